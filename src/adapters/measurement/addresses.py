"""Host names resolved as the streaming client's connections resolve them (the system's resolver)."""

from __future__ import annotations

import socket

from src.application.domain.errors import InvalidParameter
from src.application.ports.llm_client import AbstractResolver


class SystemResolver(AbstractResolver):
    def addresses(self, host: str) -> list[str]:
        try:
            found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as error:
            raise InvalidParameter(f"base_url's host {host[:100]} cannot be resolved: {error}",
                                   parameter="base_url") from None  # fmt: skip
        return sorted({str(info[4][0]) for info in found})
