"""The benchmark's twenty classes: each one's kind (spatial, temporal or detail), its
partner, the motion that draws it and, for detail classes, the texture on it.

>>> [c.name for c in CLASSES if c.kind == "temporal"][:2]
['SlideRight', 'SlideLeft']
>>> class_names()[:3]
['BlueBoxSway', 'BoardCheckered', 'BoardStriped']
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("spatial", "temporal", "detail")


@dataclass(frozen=True)
class ClassSpec:
    name: str
    kind: str  # one of KINDS
    partner: str | None  # the other class of a temporal or detail pair
    motion: str  # key into motions.RENDERERS
    reverse: bool  # play the motion's process backwards in time
    description: str
    pattern: str | None = None  # detail classes: key into textures.PATTERNS, the texture on the object


CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("RedBallBounce", "spatial", None, "ball", False,
              "a red ball bouncing in place; bouncing looks the same played backwards"),
    ClassSpec("BlueBoxSway", "spatial", None, "box", False,
              "a blue square swaying left and right"),
    ClassSpec("GreenTriangleFloat", "spatial", None, "triangle", False,
              "a green triangle bobbing up and down"),
    ClassSpec("YellowCrossPulse", "spatial", None, "cross", False,
              "a yellow plus sign pulsing in size"),
    ClassSpec("LimeDiamondRock", "spatial", None, "diamond", False,
              "a lime diamond rocking from side to side"),
    ClassSpec("PinkRingDrift", "spatial", None, "ring", False,
              "a pink ring drifting back and forth along a diagonal"),
    ClassSpec("SlideRight", "temporal", "SlideLeft", "slide", False,
              "a cyan capsule gliding right, wrapping around the frame"),
    ClassSpec("SlideLeft", "temporal", "SlideRight", "slide", True,
              "SlideRight with time reversed: the capsule glides left"),
    ClassSpec("Grow", "temporal", "Shrink", "ripples", False,
              "magenta ripples: rings born at the centre grow outwards and vanish at the rim"),
    ClassSpec("Shrink", "temporal", "Grow", "ripples", True,
              "Grow with time reversed: rings born at the rim shrink into the centre"),
    ClassSpec("SpinClockwise", "temporal", "SpinCounterClockwise", "spinner", False,
              "an orange three-armed spinner turning clockwise"),
    ClassSpec("SpinCounterClockwise", "temporal", "SpinClockwise", "spinner", True,
              "SpinClockwise with time reversed: the spinner turns counter-clockwise"),
    ClassSpec("FlagStripesAcross", "detail", "FlagStripesDown", "flag", False,
              "a violet flag swaying on its pole, with fine horizontal pinstripes",
              pattern="stripes_across"),
    ClassSpec("FlagStripesDown", "detail", "FlagStripesAcross", "flag", False,
              "FlagStripesAcross with the pinstripes turned vertical", pattern="stripes_down"),
    ClassSpec("TileCheckered", "detail", "TilePlain", "tile", False,
              "a teal tile bobbing up and down, covered in a fine checkerboard",
              pattern="checker"),
    ClassSpec("TilePlain", "detail", "TileCheckered", "tile", False,
              "TileCheckered without the checkerboard: the plain tile", pattern="plain"),
    ClassSpec("BoardCheckered", "detail", "BoardStriped", "board", False,
              "a navy board sliding back and forth, covered in a fine checkerboard",
              pattern="checker"),
    ClassSpec("BoardStriped", "detail", "BoardCheckered", "board", False,
              "BoardCheckered with fine vertical pinstripes instead", pattern="stripes_down"),
    ClassSpec("ShieldStriped", "detail", "ShieldPlain", "shield", False,
              "a moss-green round shield swinging, with a square of fine horizontal pinstripes",
              pattern="stripes_across"),
    ClassSpec("ShieldPlain", "detail", "ShieldStriped", "shield", False,
              "ShieldStriped without the pinstripes: the plain shield", pattern="plain"),
)



def class_names() -> list[str]:
    """Class names in label order (alphabetical, like UCF-101's classInd)."""
    return sorted(c.name for c in CLASSES)

