import pytest
import redis


@pytest.fixture(autouse=True)
def _clean(clean_app):
    """Every integration test starts from an empty, seeded database and an empty cache."""


@pytest.fixture
def sent(monkeypatch) -> list[bytes]:
    """The Redis commands this process sends (the server's own count would include every other
    client of a shared server), by name."""
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def recorded(self, command, *args, **kwargs):
        packed = b"".join(command) if isinstance(command, list) else command
        sent.append(packed.split(b"\r\n")[2].upper())  # RESP: *<n>, $<len>, then the name
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", recorded)
    return sent
