"""The third-party parsers extraction uses, each imported on first use and then kept for the
container: the JIT function's cold start must not pay for a parser the scenario never needs.

Measured here (Python 3.13, 2 cores, median of 7 fresh interpreters; bench/extraction.py prints
them again):
- `text2num` (number words in English, French, German, Spanish, Italian, Portuguese, Dutch:
  "seventeen", "two thousand", "dix-huit"): import ~6 ms, first use < 1 ms. Used for integer and
  number fields.
- `phonenumbers` (the `phonenumberslite` distribution: Google's libphonenumber metadata without
  the geocoder and carrier data, 6 MB instead of 46 MB installed): import ~21 ms, first parse
  ~1 ms. Used for phone fields, to validate an international number against its country's plan
  and write it as E.164.
Left out, measured the same way: `email-validator` (~28 ms, pulls dnspython; finding an address
in free text is ours to do anyway, and the structural checks in domain/formats.py are what it
would add for our use), `python-dateutil` (~30 ms; its fuzzy parser fills missing parts from
today's date, which is inventing), `dateparser` (~56 ms import + ~133 ms first parse, and it reads
"in 10 minutes" as a date), `quantulum3` (~63 ms import + ~1.8 s first parse: its unit table
loads on first use).
"""

from functools import cache
from types import ModuleType


@cache
def text2num() -> ModuleType:
    # Lazy on purpose (see the module docstring): only integer and number fields need it.
    import text_to_num  # noqa: PLC0415

    return text_to_num


@cache
def phonenumbers() -> ModuleType:
    # Lazy on purpose (see the module docstring): only phone fields need it.
    import phonenumbers  # noqa: PLC0415

    return phonenumbers
