"""`TLObject`, the base of every typed TL message (`cocoon.tl.types`)."""

from __future__ import annotations

from typing import ClassVar


class TLObject:
    """A typed TL constructor or function call: a frozen dataclass whose fields are the schema's.

    ``TL_NAME`` ties the class to its declaration in the shipped schema (`cocoon/tl/cocoon.tl`), which
    gives the field types and order; ``TL_ID`` repeats the constructor id for readers and logs (tests
    check both against the schema). ``flags:#`` fields are not attributes: the codec computes them
    from which optional (``T | None``) fields are set.
    """

    __slots__ = ()
    TL_NAME: ClassVar[str]
    TL_ID: ClassVar[int]
