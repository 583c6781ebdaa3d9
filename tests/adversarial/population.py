"""Realistic raw material: addresses from real ISP and hosting ranges, long browser and app user
agents, accounts named like real people, and a unique-address allocator."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

__all__ = [
    "Addresses",
    "account_name",
    "app_agent",
    "browser_agent",
    "search_query",
]

# First two octets of consumer broadband and mobile ranges (Comcast, Charter, Deutsche Telekom,
# Orange, BT, Telefonica, Vivo, Jio, ...): attackers' residential bots live in the same ranges as
# real customers, which is the point.
_RESIDENTIAL = (
    "73.15",
    "73.92",
    "73.162",
    "24.5",
    "24.130",
    "98.207",
    "71.204",
    "76.102",
    "68.43",
    "79.192",
    "79.233",
    "87.150",
    "91.63",
    "93.214",
    "84.131",
    "86.142",
    "81.97",
    "92.184",
    "90.84",
    "2.14",
    "176.128",
    "188.26",
    "109.145",
    "95.91",
    "83.52",
    "31.42",
    "89.205",
    "177.36",
    "187.65",
    "189.34",
    "201.17",
    "49.36",
    "103.211",
    "117.198",
    "122.169",
    "182.70",
    "151.47",
    "5.170",
    "62.214",
    "85.241",
    "94.134",
    "78.46",
    "37.201",
    "46.39",
)
_HOSTING = (
    "45.142",
    "185.220",
    "194.26",
    "5.188",
    "159.89",
    "104.248",
    "167.99",
    "138.68",
    "146.190",
    "64.227",
    "198.211",
    "139.59",
    "165.22",
    "212.102",
    "91.92",
    "193.142",
)
_V6 = ("2a02:810d", "2003:e5", "2601:646", "2a01:cb1d", "2600:1700", "2a00:23c7", "2804:14c")


class Addresses:
    """Hands out distinct addresses, so no two actors share one unless a scenario means it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        while True:
            address = make()
            if address not in self.used:
                self.used.add(address)
                return address

    def residential(self) -> str:
        """An address of a home broadband or mobile line."""
        rng = self.rng
        return self._fresh(
            lambda: f"{rng.choice(_RESIDENTIAL)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        )

    def hosting(self) -> str:
        """An address of a VPS or hosting provider."""
        rng = self.rng
        return self._fresh(
            lambda: f"{rng.choice(_HOSTING)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        )

    def claim(self, address: str) -> str:
        """A fixed address (an office, a carrier gateway), marked as used."""
        self.used.add(address)
        return address

    def v6_prefix(self) -> str:
        """A fresh /64 of a consumer IPv6 range, as ``aaaa:bbbb:cccc:dddd``."""
        rng = self.rng
        return self._fresh(
            lambda: str(
                ipaddress.IPv6Address(
                    f"{rng.choice(_V6)}:{rng.randint(0, 0xFFFF):x}:{rng.randint(0, 0xFFFF):x}::"
                )
            ).rstrip(":")
        )

    def in_prefix(self, prefix: str) -> str:
        """A random (privacy-extension style) address inside the /64 ``prefix``."""
        rng = self.rng
        network = int(ipaddress.IPv6Address(f"{_pad(prefix)}::"))
        return self._fresh(lambda: str(ipaddress.IPv6Address(network | rng.getrandbits(64))))


def _pad(prefix: str) -> str:
    """``2a02:810d:12:34`` with every group present (a /64 written in four groups)."""
    parts = prefix.split(":")
    return ":".join(parts + ["0"] * (4 - len(parts)))


_CHROME = ("128.0.6613.137", "129.0.6668.100", "130.0.6723.117", "131.0.6778.86", "131.0.6778.109")
_FIREFOX = ("128.0", "131.0", "132.0", "133.0")
_SAFARI = ("17.6", "18.0.1", "18.1", "18.1.1")
_IOS = ("17_6_1", "18_0_1", "18_1", "18_1_1")
_ANDROID = (
    ("14", "SM-S918B"),
    ("14", "Pixel 8"),
    ("13", "SM-A536B"),
    ("14", "2312DRA50G"),
    ("12", "moto g(60)"),
    ("15", "Pixel 9 Pro"),
    ("13", "CPH2413"),
)
_WINDOWS = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"


def browser_agent(rng: random.Random) -> str:
    """A current desktop or mobile browser's user agent, as long as real ones are."""
    kind = rng.random()
    chrome = rng.choice(_CHROME)
    if kind < 0.34:
        suffix = f" Edg/{chrome}" if rng.random() < 0.25 else ""
        osname = _WINDOWS if rng.random() < 0.7 else _MAC
        return (
            f"Mozilla/5.0 ({osname}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome} Safari/537.36{suffix}"
        )
    if kind < 0.46:
        version = rng.choice(_FIREFOX)
        osname = "Windows NT 10.0; Win64; x64" if rng.random() < 0.6 else "X11; Linux x86_64"
        return f"Mozilla/5.0 ({osname}; rv:{version}) Gecko/20100101 Firefox/{version}"
    if kind < 0.58:
        return (
            f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{rng.choice(_SAFARI)} Safari/605.1.15"
        )
    if kind < 0.8:
        ios = rng.choice(_IOS)
        return (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{ios.split('_')[0]}.{ios.split('_')[1]} "
            "Mobile/15E148 Safari/604.1"
        )
    android, model = rng.choice(_ANDROID)
    return (
        f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{chrome} Mobile Safari/537.36"
    )


def app_agent(rng: random.Random) -> str:
    """The shop's own mobile app (iOS or Android build)."""
    build = rng.choice(("5.11.3", "5.12.0", "5.12.1"))
    if rng.random() < 0.5:
        device = rng.choice(("iPhone14,5", "iPhone15,2", "iPhone16,1", "iPhone13,2"))
        return f"ShopApp/{build} ({device}; iOS {rng.choice(_IOS).replace('_', '.')}; Scale/3.00)"
    android, model = rng.choice(_ANDROID)
    return f"ShopApp/{build} (Linux; U; Android {android}; {model} Build/UP1A) okhttp/4.12.0"


_FIRST = (
    "maria",
    "james",
    "sofia",
    "lukas",
    "emma",
    "noah",
    "olivia",
    "liam",
    "mia",
    "lucas",
    "anna",
    "david",
    "laura",
    "daniel",
    "sarah",
    "thomas",
    "julia",
    "ali",
    "fatima",
    "mohamed",
    "chen",
    "wei",
    "priya",
    "arjun",
    "ana",
    "joao",
    "pedro",
    "camille",
    "hugo",
    "leon",
    "hannah",
    "jan",
    "eva",
    "marco",
    "giulia",
    "ines",
    "omar",
    "yuki",
    "kenji",
    "sven",
)
_LAST = (
    "garcia",
    "smith",
    "mueller",
    "schmidt",
    "rossi",
    "dubois",
    "silva",
    "santos",
    "kowalski",
    "nowak",
    "jones",
    "brown",
    "wilson",
    "martin",
    "bernard",
    "novak",
    "horvat",
    "jensen",
    "larsen",
    "kaya",
    "yilmaz",
    "khan",
    "patel",
    "singh",
    "kim",
    "lee",
    "wang",
    "li",
    "tanaka",
    "sato",
    "murphy",
    "obrien",
    "costa",
    "ferreira",
    "lopez",
    "perez",
    "fischer",
    "weber",
)
_DOMAINS = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "proton.me",
    "btinternet.com",
)


def account_name(rng: random.Random) -> str:
    """An e-mail address like the ones people sign up with."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    shape = rng.random()
    if shape < 0.4:
        local = f"{first}.{last}"
    elif shape < 0.7:
        local = f"{first}{last}{rng.randint(1, 99)}"
    elif shape < 0.85:
        local = f"{first[0]}{last}{rng.randint(70, 2005)}"
    else:
        local = f"{first}_{last}.{rng.randint(1, 999)}"
    return f"{local}@{rng.choice(_DOMAINS)}"


_TERMS = (
    "running+shoes",
    "usb-c+cable",
    "winter+jacket",
    "coffee+grinder",
    "phone+case",
    "wireless+headphones",
    "desk+lamp",
    "yoga+mat",
    "backpack",
    "water+bottle",
    "socks",
    "gaming+mouse",
    "laptop+stand",
    "kettle",
    "t-shirt",
    "sunglasses",
    "dog+bed",
    "lego",
)


def search_query(rng: random.Random) -> str:
    """A product search's query string, with the paging and sorting a front-end adds."""
    parts = [f"q={rng.choice(_TERMS)}"]
    if rng.random() < 0.4:
        parts.append(f"page={rng.randint(2, 6)}")
    if rng.random() < 0.3:
        parts.append(rng.choice(("sort=price_asc", "sort=relevance", "sort=newest")))
    if rng.random() < 0.2:
        parts.append(f"utm_source={rng.choice(('newsletter', 'google', 'instagram'))}")
    return "&".join(parts)
