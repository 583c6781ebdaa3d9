"""Known attack and scanning tools, recognised by their default user agents."""

from __future__ import annotations

import re

__all__ = ["attack_tool"]

_TOOLS = (
    "sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster",
    "ffuf", "feroxbuster", "hydra", "medusa", "acunetix", "netsparker", "w3af", "arachni",
    "skipfish", "openvas", "nessus", "havij", "wfuzz", "commix", "xsstrike", "jaeles", "whatweb",
    "dirb", "metasploit", "zmeu", "morfeus", "sqlninja", "fimap", "burpcollaborator", "zaproxy",
    "owasp zap", "brutus", "teh forest lobster", "grabber", "jorgee", "paros", "webinspect",
    "appscan", "qualys", "pangolin", "bsqlbf", "wapiti", "vega", "httrack", "interactsh",
    "log4shell", "crimscanner", "sf-scanner", "censysinspect", "l9explore", "zgrab2", "mozlila",
)  # fmt: skip
_PATTERN = re.compile(
    r"(?<![a-z0-9])(" + "|".join(re.escape(tool) for tool in _TOOLS) + r")(?![a-z])",
    re.IGNORECASE,
)


def attack_tool(user_agent: str) -> str | None:
    """The attack tool a user agent names (lower case), or None."""
    match = _PATTERN.search(user_agent)
    return match.group(1).lower() if match else None
