"""How an attack on a leased file must end (docs/security/hooks.md): the victim's content is
intact, the attacker's model was told, and the audit log names the attacker."""

from __future__ import annotations

from typing import Any

VICTIMS = "victim's work\n"
PWNED = "pwned"


def _by_attacker(arena: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in arena.audit(kind) if str(e.get("agent")).startswith("t_1#")]


def intact(arena: Any, *rels: str, content: str = VICTIMS) -> None:
    for rel in rels:
        assert arena.read(rel) == content, rel


def denied(arena: Any, rel: str) -> None:
    """Refused before it ran: the model read the hook's reason, naming the holder; audited."""
    told = arena.told()
    assert "codeswarm:" in told and rel in told and "t_0#" in told, told[-3000:]
    rows = _by_attacker(arena, "lease.denied")
    assert any(rel in e["data"]["paths"] for e in rows), rows


def undone(arena: Any, *rels: str) -> None:
    """Ran, and was put back: the model was told it was undone; both audit rows name the
    attacker."""
    told = arena.told()
    assert "was undone" in told or "is undone" in told, told[-3000:]
    for rel in rels:
        assert rel in told, (rel, told[-3000:])
        violated = [e for e in _by_attacker(arena, "lease.violated") if e["subject"] == rel]
        assert violated and violated[-1]["data"]["restored"] is True, violated
        assert violated[-1]["data"]["holder"].startswith("t_0#")
        assert [e for e in _by_attacker(arena, "lease.restored") if e["subject"] == rel]


def denied_or_undone(arena: Any, rel: str) -> None:
    """Either way: for commands whose form the shell parser may or may not read."""
    if _by_attacker(arena, "lease.denied"):
        denied(arena, rel)
    else:
        undone(arena, rel)
