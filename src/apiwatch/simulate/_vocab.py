"""The word lists simulated traffic is made of: names, user agents, searches, passwords, probes.

Only tuples (never sets), so that every draw from them is the same on every run and platform.
"""

from __future__ import annotations

from typing import Final

FIRST_NAMES: Final = (
    "anna", "ben", "carla", "david", "elena", "felix", "greta", "hugo", "ines", "jonas", "karin",
    "lukas", "maria", "nils", "olga", "paul", "quentin", "rosa", "sven", "tanja", "uwe", "vera",
    "walter", "xenia", "yusuf", "zoe", "amir", "bianca", "chen", "daria", "emil", "fatima",
    "gabriel", "hana", "ivan", "julia", "kenji", "lea", "mateo", "nora", "omar", "priya",
    "rafael", "sofia", "tomas", "ursula", "viktor", "wei", "yara", "adam", "beatriz", "conor",
    "dilan", "eva", "farid", "gina", "henrik", "isla", "jakob", "kemal", "lina", "marek",
    "nadia", "oscar", "pia", "ruben", "selin", "theo", "una", "valentin", "wanda", "aiko",
)  # fmt: skip

LAST_NAMES: Final = (
    "schmidt", "meyer", "novak", "rossi", "garcia", "martin", "kowalski", "jensen", "dubois",
    "silva", "murphy", "nielsen", "weber", "fischer", "costa", "petrov", "horvat", "larsen",
    "moreau", "russo", "lopez", "bauer", "wagner", "keller", "huber", "yilmaz", "kaya", "tanaka",
    "sato", "kim", "park", "nguyen", "tran", "ali", "khan", "singh", "patel", "cohen", "levi",
    "berg", "lund", "holm", "ek", "virtanen", "korhonen", "smith", "jones", "brown", "taylor",
    "walsh", "byrne", "santos", "ferreira", "oliveira", "romero", "navarro", "vargas", "mendez",
    "fuchs", "vogel", "wolf", "krause", "brandt", "engel", "frank", "haas", "roth", "stein",
)  # fmt: skip

BROWSER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)

MOBILE_AGENTS: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.102 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.86 Mobile Safari/537.36",
    "ShopApp/5.12.1 (iPhone; iOS 18.1; Scale/3.00)",
    "ShopApp/5.12.0 (Android 14; SM-A546B) okhttp/4.12.0",
)

MONITOR_AGENT: Final = "UptimeRobot/2.0 (http://www.uptimerobot.com/)"
CRAWLER_AGENT: Final = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SERVICE_AGENT: Final = "python-httpx/0.28.1"
SCRIPT_AGENT: Final = "python-requests/2.32.3"
SPOOFED_CHROME: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
BOTNET_AGENT: Final = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
PARTNER_AGENT: Final = "PartnerSync/2.3 Go-http-client/1.1"
NIKTO_AGENT: Final = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000562)"
SQLMAP_AGENT: Final = "sqlmap/1.8.11#stable (https://sqlmap.org)"

SEARCHES: Final = (
    "running shoes", "usb-c cable", "coffee grinder", "rain jacket", "desk lamp", "headphones",
    "yoga mat", "backpack", "water bottle", "phone case", "wool socks", "chef knife",
    "board game", "led strip", "hiking boots", "sunglasses", "notebook", "mechanical keyboard",
    "tea kettle", "bike light", "winter gloves", "frying pan", "travel adapter", "sofa cushion",
    "dog leash", "kids raincoat", "garden hose", "espresso cups", "monitor stand", "scarf",
)  # fmt: skip

LEAKED_PASSWORDS: Final = (
    "123456", "password", "123456789", "qwerty", "12345678", "111111", "1234567", "abc123",
    "password1", "iloveyou", "Summer2024!", "Winter2025!", "letmein", "monkey", "dragon",
    "football", "baseball", "sunshine", "princess", "welcome1", "shadow", "master", "hello123",
    "freedom", "whatever", "qazwsx", "trustno1", "654321", "superman", "Passw0rd!", "admin123",
    "starwars", "login", "passw0rd", "michael", "jessica", "charlie", "donald", "zaq12wsx",
    "Spring2025", "Autumn2024", "qwerty123", "1q2w3e4r", "secret", "computer", "cheese",
)  # fmt: skip

SPRAY_PASSWORD: Final = "Autumn2026!"  # noqa: S105 - the attacker's guess, not a secret

CRAWLER_DEAD_PATHS: Final = (
    "/catalog/item-{n}.html", "/old-shop/category/{n}", "/product.php?id={n}",
    "/blog/{n}/summer-sale", "/de/angebote/{n}", "/shop/p/{n}/reviews", "/media/img/{n}.jpg",
)  # fmt: skip

SCANNER_PATHS: Final = (
    "/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/", "/admin/",
    "/administrator/", "/phpmyadmin/", "/pma/", "/server-status", "/.aws/credentials",
    "/config.json", "/backup.zip", "/db.sql", "/.DS_Store", "/actuator/env", "/api/swagger.json",
    "/console/", "/cgi-bin/test.cgi", "/.htaccess", "/web.config", "/xmlrpc.php", "/.svn/entries",
    "/debug/pprof/", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/login.action",
    "/solr/admin/", "/jenkins/login", "/.well-known/security.txt", "/owa/auth/logon.aspx",
)  # fmt: skip

TRAVERSAL_PATHS: Final = (
    "/../../etc/passwd",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/download?file=../../../../etc/passwd",
    "/products/%2e%2e/%2e%2e/%2e%2e/windows/win.ini",
)

INJECTION_QUERIES: Final = (
    "q=%27%20OR%201%3D1--",
    "q=1%27%20OR%20%271%27%3D%271",
    "q=shoes%27%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--",
    "q=1%20AND%20SLEEP%285%29",
    "q=%27%3BDROP%20TABLE%20orders--",
    "q=%3Cscript%3Ealert%281%29%3C%2Fscript%3E",
    "q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E",
    "q=%7B%7B7%2A7%7D%7D",
)
