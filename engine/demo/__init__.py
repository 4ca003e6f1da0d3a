"""`make demo`: a newcomer's first look at the engine, played as a sequence of acts.

Each act is a function taking the shared `DemoStage` and returning the lines it wants to tell the
audience. Adding an act (the bill run, the donation split) is one function and one line in `ACTS`.
"""
