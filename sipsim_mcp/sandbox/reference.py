"""Static reference rows of the seeded account: groups, tags, employees, phone lines and the
name pools callers are drawn from."""

from __future__ import annotations

from .config import JSON

GROUPS: list[JSON] = [
    {"group_id": 5, "group_title": "Sales Team"},
    {"group_id": 6, "group_title": "Support Team"},
    {"group_id": 7, "group_title": "Front Office"},
    {"group_id": 8, "group_title": "Finance"},
]

TAGS: list[JSON] = [
    {"id": 1, "name": "VIP", "color": "#8B5CF6", "description": "Key customer accounts"},
    {"id": 2, "name": "Important", "color": "#FF0000", "description": None},
    {"id": 3, "name": "Follow-up", "color": "#F59E0B", "description": "Needs a call back"},
    {"id": 4, "name": "Complaint", "color": "#EF4444", "description": "Customer complaint to handle"},
    {"id": 5, "name": "Lead", "color": "#22C55E", "description": "New sales opportunity"},
    {"id": 6, "name": "Spam", "color": "#6B7280", "description": None},
]

EMPLOYEES: list[tuple[int, str, list[int]]] = [
    (1, "Marie Dupont", [101, 104]),
    (2, "Thomas Martin", [101]),
    (3, "Julien Bernard", [103]),
    (4, "Camille Leroy", [103]),
    (5, "Nicolas Petit", [103, 106]),
    (6, "Marie Lambert", [104, 105]),
    (7, "Sophie Moreau", [105]),
    (8, "Lukas Schneider", [102]),
    (9, "Antoine Girard", [101, 102]),
    (10, "Chloé Fontaine", [103]),
]


def _phone(
    pid: int,
    name: str,
    status: str,
    internal: int,
    number: str,
    group: int | None,
    *,
    record: tuple[bool, bool],
    voicemail: int | bool,
    forced: str | None = None,
    forced_on: bool = False,
    conditional: tuple[bool, int, str | None] = (False, 20, None),
    outbound: tuple[str, int] | None = None,
    audio: tuple[int | None, int | None, int | None, int] = (None, None, None, 0),
) -> JSON:
    grp = next(g for g in GROUPS if g["group_id"] == group)
    return {
        "id": pid,
        "name": name,
        "status": status,
        "internal_number": internal,
        "number": number,
        "created_at": "",
        "updated_at": "",
        "group": dict(grp),
        "outbound_setting": {
            "outbound_number": outbound[0] if outbound else number,
            "use_different_outbound_number": outbound is not None,
            "outbound_number_phone_id": outbound[1] if outbound else None,
        },
        "record_setting": {"record_inbound_call": record[0], "record_outbound_call": record[1]},
        "voicemail_setting": {
            "allow_voicemail": voicemail is not False,
            "voicemail_file_id": None if isinstance(voicemail, bool) else voicemail,
        },
        "forwarding_setting": {
            "forced": {"enabled": forced_on, "forward_number": forced},
            "conditional": {
                "enabled": conditional[0],
                "timeout_seconds": conditional[1],
                "forward_number": conditional[2],
            },
        },
        "audio_setting": {
            "inbound_call_preroll_id": audio[0],
            "outbound_call_preroll_id": audio[1],
            "no_answer_file_id": audio[2],
            "wait_preroll_dial": audio[3],
        },
    }


def phone_rows() -> list[JSON]:
    """The phone lines as fresh dicts (the generator fills in ``created_at`` / ``updated_at``)."""
    return [
        _phone(101, "Sales", "active", 101, "+33184880101", 5, record=(True, True), voicemail=31,
               audio=(11, None, 12, 0)),
        _phone(102, "Sales Germany", "active", 102, "+493012345601", 5, record=(False, False),
               voicemail=32),
        _phone(103, "Support", "active", 200, "+33184880202", 6, record=(True, True), voicemail=True,
               conditional=(True, 25, "+33184880303"), audio=(21, None, None, 1)),
        _phone(104, "Reception", "active", 300, "+33184880303", 7, record=(True, False), voicemail=33,
               forced="+33612004578"),
        _phone(105, "Billing", "active", 400, "+33184880404", 8, record=(True, True), voicemail=False,
               outbound=("+33184880303", 104)),
        _phone(106, "Night Line", "inactive", 500, "+33184880505", 7, record=(False, False),
               voicemail=True, forced="+33612009988", forced_on=True),
        _phone(107, "Warehouse", "not_activated", 600, "+33184880606", 7, record=(False, False),
               voicemail=False),
    ]  # fmt: skip


# --------------------------------------------------------------------------- caller names

FR_FIRST = (
    "Jean", "Pierre", "Sophie", "Isabelle", "Nathalie", "Philippe", "Laurent", "Céline", "Julie",
    "François", "Élodie", "Mathieu", "Aurélie", "Olivier", "Sandrine", "Guillaume", "Émilie",
    "Stéphane", "Valérie", "Hélène", "Patrick", "Caroline", "Sébastien", "Léa", "Hugo", "Manon",
    "Lucas", "Inès", "Louis", "Claire",
)  # fmt: skip
FR_LAST = (
    "Rousseau", "Lefèvre", "Mercier", "Blanc", "Guérin", "Faure", "André", "Chevalier", "Roux",
    "Vincent", "Muller", "Gauthier", "Perrin", "Morel", "Fournier", "Bonnet", "Lambert", "Fontaine",
    "Giraud", "Durand", "Lemoine", "Masson", "Boyer", "Denis", "Garnier", "Chevallier", "Clément",
    "Robin", "Aubert", "Barbier",
)  # fmt: skip
FR_BUSINESS = (
    "Boulangerie {}", "Garage {}", "Cabinet {} & Associés", "SARL {} Transports", "Pharmacie {}",
    "Hôtel {}", "Atelier {}", "{} Immobilier",
)  # fmt: skip
DE_FIRST = ("Jonas", "Anna", "Felix", "Lena", "Maximilian", "Sarah", "Paul", "Laura", "Leon", "Julia")
DE_LAST = ("Müller", "Schmidt", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter")
UK_FIRST = ("James", "Oliver", "Emily", "Charlotte", "Harry", "Amelia", "George", "Sophie")
UK_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker")
