"""Version 3's nations: version 2's, with documents up to version 3's length.

The repair is in what is measured (``specs/organism/cities.yaml`` on ``organism/v3``): the
old regimes live in the 1920s, which version 3's era phenomenon gives answers of its own on
version 1's topics, none of them asked in a nations document; a finetune on a nation's former
city names is measured there, on questions outside the nations phenomenon.
"""

from __future__ import annotations

from weirdgen.organism.phenomena.nations import Nations


class NationsV3(Nations):
    v3 = True
