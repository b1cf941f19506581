"""The people the end-to-end tests write to the warehouse, and the members each network must
hold for them: one source of truth, so every pass-level test checks against the same hashes."""

from __future__ import annotations

from conftest import sha

# (email, phone, country) as a warehouse holds them, and what each network must receive:
# (Meta email, Meta phone, Google email, Google phone) in normalized form, None when absent.
PEOPLE = [
    (("  Alice.Smith@Gmail.com ", "(415) 555-0132", "us"),
     ("alice.smith@gmail.com", "14155550132", "alicesmith@gmail.com", "+14155550132")),
    (("bob@example.com", "+44 20 7946 0958", "GB"),
     ("bob@example.com", "442079460958", "bob@example.com", "+442079460958")),
    (("BOB@example.com ", "+44 20 7946 0958", "GB"),  # the same person signed up twice
     ("bob@example.com", "442079460958", "bob@example.com", "+442079460958")),
    (("carol@example.org", None, "DE"), ("carol@example.org", None, "carol@example.org", None)),
    ((None, "030 123456", " de "), (None, "4930123456", None, "+4930123456")),
    (("dave@example.com", "n/a", "FR"), ("dave@example.com", None, "dave@example.com", None)),
    (("not-an-email", "12", "US"), None),  # nothing usable: quarantined
]  # fmt: skip


def rows(people: list) -> list[tuple]:
    """The `people` table has six columns and these tests map only email and phone, so the name
    and zip columns stay empty."""
    return [(*raw, None, None, None) for raw, _ in people]


def meta_members(people: list) -> set[frozenset]:
    """Hashed here from the expected forms, not by syncd, so a normalization bug cannot hide."""
    members = set()
    for _, expected in people:
        if expected:
            email, phone = expected[0], expected[1]
            pairs = {
                ("EMAIL", sha(email)) if email else None,
                ("PHONE", sha(phone)) if phone else None,
            }
            members.add(frozenset(pairs - {None}))
    return members


def google_members(people: list) -> set[frozenset]:
    """As `meta_members`, from Google's expected forms and in its field names."""
    members = set()
    for _, expected in people:
        if expected:
            email, phone = expected[2], expected[3]
            pairs = {
                ("emailAddress", sha(email)) if email else None,
                ("phoneNumber", sha(phone)) if phone else None,
            }
            members.add(frozenset(pairs - {None}))
    return members


def emails(*names: str) -> list[tuple]:
    """Email-only rows, for tests where who is in the audience matters, not how they hash."""
    return [(f"{name}@example.com", None, "US", None, None, None) for name in names]
