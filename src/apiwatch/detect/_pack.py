"""The built-in pack's matcher, generated ahead of time: do not edit.

Written by ``python -m apiwatch.detect._prebuild`` (``make pack-matcher``) from the source
`apiwatch.detect.matcher.compile_all` generates for the built-in pack; `compile_all` binds it
instead of compiling that source at run time when the digests agree, so that the compiled build
(``make compile``) runs the built-in pack's matcher as machine code. A test fails when the pack
changed and this file was not written again.
"""

# ruff: noqa
from typing import Any, Final

from apiwatch.detect.matcher import MatchAll

DIGEST: Final = 'a1e11e0c31dd6adf7dba10df64ef47ca6aa044b43a99c56267e7bd939f307cef'


def bind(ns: dict[str, Any]) -> MatchAll:
    """The matcher, bound to the constants `compile_all` made for its source."""
    _EMPTY: str = ""
    _c0: dict[Any, int] = ns['_c0']
    _c1: dict[Any, int] = ns['_c1']
    _c2: dict[Any, int] = ns['_c2']
    _c3: Any = ns['_c3']
    _c4: Any = ns['_c4']
    _c5: dict[Any, int] = ns['_c5']
    _c6: dict[Any, int] = ns['_c6']
    _c7: dict[Any, int] = ns['_c7']
    _c8: Any = ns['_c8']
    _c9: Any = ns['_c9']
    _c10: Any = ns['_c10']
    _c11: Any = ns['_c11']
    _c12: dict[Any, int] = ns['_c12']
    _c13: dict[Any, int] = ns['_c13']
    _c14: Any = ns['_c14']
    _c15: Any = ns['_c15']
    _c16: Any = ns['_c16']
    _c17: Any = ns['_c17']
    _c18: Any = ns['_c18']
    _c19: Any = ns['_c19']
    _c20: Any = ns['_c20']
    _c21: Any = ns['_c21']
    _c22: Any = ns['_c22']
    _c23: Any = ns['_c23']
    _c24: Any = ns['_c24']
    _c25: Any = ns['_c25']
    _c26: Any = ns['_c26']
    _c27: Any = ns['_c27']
    _c28: Any = ns['_c28']
    _c29: Any = ns['_c29']
    _c30: Any = ns['_c30']
    _c31: Any = ns['_c31']
    _c32: Any = ns['_c32']
    _c33: Any = ns['_c33']
    _c34: Any = ns['_c34']
    _c35: Any = ns['_c35']
    _c36: Any = ns['_c36']
    _c37: Any = ns['_c37']
    _c38: Any = ns['_c38']
    _c39: Any = ns['_c39']
    _c40: Any = ns['_c40']
    _c41: Any = ns['_c41']
    _c42: Any = ns['_c42']
    _c43: Any = ns['_c43']
    _c44: Any = ns['_c44']
    _c45: Any = ns['_c45']
    _c46: Any = ns['_c46']
    _c47: Any = ns['_c47']
    _c48: Any = ns['_c48']
    _c49: Any = ns['_c49']
    _c50: Any = ns['_c50']
    _c51: Any = ns['_c51']
    _c52: dict[Any, int] = ns['_c52']
    _c53: Any = ns['_c53']
    _c54: Any = ns['_c54']
    _c55: Any = ns['_c55']
    _c56: Any = ns['_c56']
    _c57: Any = ns['_c57']
    _c58: Any = ns['_c58']
    _c59: Any = ns['_c59']
    _c60: Any = ns['_c60']
    _c61: dict[tuple[int, ...], tuple[int, ...]] = ns['_c61']
    _num: Any = ns['_num']
    _KEYED: frozenset[type] = ns['_KEYED']
    _in_net: Any = ns['_in_net']
    _time_part: Any = ns['_time_part']
    def _verdict(_m0: int, _m1: int, _m2: int, _m3: int, _m4: int, _m5: int, _m6: int, _m7: int, _m8: int, x: int) -> tuple[int, ...]:
        m: list[int] = []
        if (_m0 & 1):
            m.append(0)
        if (_m0 & 2):
            m.append(1)
        if ((_m0 & 1) and (_m1 & 1)):
            m.append(2)
        if ((_m2 & 1) and (_m3 & 1)):
            m.append(3)
        if ((_m4 & 1) and (_m5 & 1)):
            m.append(4)
        if (x & 1):
            m.append(5)
        if (_m4 & 2):
            m.append(6)
        if (x & 2):
            m.append(7)
        if ((_m4 & 4) and (_m5 & 2) and (_m2 & 2)):
            m.append(8)
        if (x & 4):
            m.append(9)
        if (_m6 & 2):
            m.append(10)
        if (x & 8):
            m.append(11)
        if (_m7 & 1 or _m3 & 2 or _m7 & 2 or _m7 & 4 or _m7 & 8 or (_m5 & 4 and _m3 & 4) or (_m5 & 8 and _m4 & 4 and _m2 & 4) or (_m5 & 16 and _m4 & 4 and _m7 & 16) or (_m5 & 32 and _m7 & 32) or (_m5 & 32 and _m7 & 64) or (_m4 & 4 and _m7 & 128 and _m2 & 8) or (_m7 & 256 and _m2 & 16) or (_m4 & 4 and _m7 & 512 and _m2 & 32) or (_m4 & 4 and _m7 & 1024) or (_m4 & 1 and _m7 & 2048)) or (x & 16):
            m.append(12)
        if (_m2 & 64 and _m5 & 64 or (_m2 & 128 and _m5 & 128) or (_m2 & 256 and _m5 & 256) or _m5 & 512 or _m5 & 1024 or _m5 & 2048 or (_m5 & 4096) or (_m4 & 8 and _m2 & 512)) or (x & 32):
            m.append(13)
        if (x & 64):
            m.append(14)
        if ((_m8 & 1) and (_m1 & 2)):
            m.append(15)
        if (x & 128):
            m.append(16)
        if (_m2 & 2048):
            m.append(17)
        if (x & 256):
            m.append(18)
        if ((_m3 & 8) or (_m6 & 8)):
            m.append(19)
        if (_m5 & 8192):
            m.append(20)
        if (_m7 & 4096):
            m.append(21)
        if (_m7 & 8192):
            m.append(22)
        if (_m7 & 16384):
            m.append(23)
        if (x & 512):
            m.append(24)
        if (x & 1024):
            m.append(25)
        if (x & 2048):
            m.append(26)
        if (x & 4096):
            m.append(27)
        if (x & 8192):
            m.append(28)
        if (x & 16384):
            m.append(29)
        if (x & 32768):
            m.append(30)
        if len(_c61) >= 2048:
            _c61.clear()
        t = tuple(m)
        _c61[(_m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, x)] = t
        return t
    def _mk0(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (l1 == 'fail'):
            m |= 1
        if (l1 == 'success'):
            m |= 2
        if type(x) in _KEYED:
            if len(_c0) >= 2048:
                _c0.clear()
            _c0[x] = m
        return m
    def _mk1(x: Any) -> int:
        v0 = x
        m = 0
        if (not (v0 is not None)):
            m |= 1
        if (v0 is not None):
            m |= 2
        if type(x) in _KEYED:
            if len(_c1) >= 2048:
                _c1.clear()
            _c1[x] = m
        return m
    def _mk2(x: Any) -> int:
        v0 = x
        m = 0
        if (v0 in _c4):
            m |= 1
        if (v0 in _c11):
            m |= 2
        if (v0 in _c24):
            m |= 4
        if (v0 in _c29):
            m |= 8
        if (v0 in _c32):
            m |= 16
        if (v0 in _c34):
            m |= 32
        if (v0 in _c38):
            m |= 64
        if (v0 in _c40):
            m |= 128
        if (v0 in _c43):
            m |= 256
        if (v0 in _c46):
            m |= 512
        if (v0 in _c49):
            m |= 1024
        if (v0 in _c56):
            m |= 2048
        if (v0 in _c58):
            m |= 4096
        if (_num(v0) < 300):
            m |= 8192
        if ((_num(v0) < 300) or (v0 in _c59)):
            m |= 16384
        if type(x) in _KEYED:
            if len(_c2) >= 2048:
                _c2.clear()
            _c2[x] = m
        return m
    def _mk3(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (not (('googlebot' in l1) or ('bingbot' in l1) or ('duckduckbot' in l1) or ('yandexbot' in l1) or ('baiduspider' in l1) or ('applebot' in l1))):
            m |= 1
        if ('${jndi:' in l1):
            m |= 2
        if (l1 == 'report runner'):
            m |= 4
        if (('sqlmap' in l1) or ('nikto' in l1) or ('nmap' in l1) or ('masscan' in l1) or ('zgrab' in l1) or ('nuclei' in l1) or ('wpscan' in l1) or ('dirbuster' in l1) or ('gobuster' in l1) or ('feroxbuster' in l1) or ('ffuf' in l1) or ('hydra' in l1) or ('acunetix' in l1) or ('netsparker' in l1) or ('havij' in l1) or ('w3af' in l1) or ('whatweb' in l1) or ('openvas' in l1) or ('jaeles' in l1) or ('arachni' in l1)):
            m |= 8
        if type(x) in _KEYED:
            if len(_c5) >= 2048:
                _c5.clear()
            _c5[x] = m
        return m
    def _mk4(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (l1 == 'get'):
            m |= 1
        if (v0 is not None and _c10.search(str(v0)) is not None):
            m |= 2
        if (l1 == 'post'):
            m |= 4
        if (l1 == 'connect'):
            m |= 8
        if type(x) in _KEYED:
            if len(_c6) >= 2048:
                _c6.clear()
            _c6[x] = m
        return m
    def _mk5(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (v0 is not None and _c8.search(str(v0)) is not None):
            m |= 1
        if l1.startswith('/apps/login'):
            m |= 2
        if l1.startswith('/api/v2/cmdb/system/admin/'):
            m |= 4
        if ('/ghost/api/admin/session' in l1):
            m |= 8
        if ('/index.php' in l1):
            m |= 16
        if ('/remote_agent.php' in l1):
            m |= 32
        if (('/_ignition/execute-solution' in l1) or ('/cgi/networkdiag.cgi' in l1) or ('/setup.cgi' in l1) or ('/crx/packmgr/' in l1) or ('/cgi-bin/videoconfiguration.cgi' in l1) or ('/sap/bc/' in l1) or ('/sap/opu/odata/' in l1) or ('/sap/public/' in l1) or ('/irj/portal' in l1) or ('/webdynpro/' in l1)):
            m |= 64
        if (l1 in _c41):
            m |= 128
        if (v0 is not None and _c44.search(str(v0)) is not None):
            m |= 256
        if (l1.endswith('/c99.php') or l1.endswith('/r57.php') or l1.endswith('/s72_shell.php') or l1.endswith('/worse_linux_shell.php') or l1.endswith('/wso.php') or l1.endswith('/b374k.php') or l1.endswith('/alfa.php') or l1.endswith('/indoxploit.php') or l1.endswith('/shell.aspx') or l1.endswith('/cmd.jsp')):
            m |= 512
        if ('w00tw00t.at.isc.sans.dfind' in l1):
            m |= 1024
        if (l1 == '/core/skin/login.aspx'):
            m |= 2048
        if (l1 == '/crowdsec-test-ntktljhv4tfbsk3wvlhiobnl'):
            m |= 4096
        if (('/.env' in l1) or ('/.git/' in l1) or ('/.svn/' in l1) or ('/.hg/' in l1) or ('/.aws/' in l1) or ('/.ssh/' in l1) or ('/.ds_store' in l1) or ('/.htpasswd' in l1) or ('/wp-login.php' in l1) or ('/wp-admin' in l1) or ('/xmlrpc.php' in l1) or ('/phpmyadmin' in l1) or ('/pma/' in l1) or ('/administrator/' in l1) or ('/manager/html' in l1) or ('/admin.php' in l1) or ('/server-status' in l1) or ('/actuator/env' in l1) or ('/web.config' in l1) or ('/backup.sql' in l1) or ('/db.sql' in l1)):
            m |= 8192
        if type(x) in _KEYED:
            if len(_c7) >= 2048:
                _c7.clear()
            _c7[x] = m
        return m
    def _mk6(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (l1 == 'excess_rate_limit_exceeded'):
            m |= 1
        if (l1 == 'payment_failed'):
            m |= 2
        if (l1 == 'authn_login_fail'):
            m |= 4
        if (l1 == 'malicious_attack_tool'):
            m |= 8
        if type(x) in _KEYED:
            if len(_c12) >= 2048:
                _c12.clear()
            _c12[x] = m
        return m
    def _mk7(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (('util/php/eval-stdin.php' in l1) or (l1 is not None and _c14.fullmatch(str(l1)) is not None) or ('@java.lang.runtime@getruntime().exec(' in l1) or ('%40java.lang.runtime%40getruntime%28%29.exec%28' in l1) or ('/vendor/htmlawed/htmlawed/htmlawedtest.php' in l1) or ('${script:javascript:java.lang.runtime.getruntime().exec(' in l1) or ('${script:js:java.lang.runtime.getruntime().exec(' in l1) or ('${url:utf-8:' in l1) or ('${dns:address|' in l1) or ('%24%7bscript%3ajavascript%3ajava.lang.runtime.getruntime%28%29.exec%28' in l1) or ('%24%7bscript%3ajs%3ajava.lang.runtime.getruntime%28%29.exec%28' in l1) or ('%24%7burl%3autf-8%3a' in l1) or ('%24%7bdns%3aaddress%7c' in l1) or ('/owncloud/apps/graphapi/vendor/microsoft/microsoft-graph/tests/getphpinfo.php' in l1) or ('/.%2e/.%2e/' in l1) or ('/%2e%2e/%2e%2e' in l1) or ('/%%32%65%%32%65/' in l1) or (l1 is not None and _c15.fullmatch(str(l1)) is not None) or ('class.module.classloader.' in l1) or (l1 is not None and _c16.fullmatch(str(l1)) is not None) or (l1 is not None and _c17.fullmatch(str(l1)) is not None) or ('%2fcatalog-portal%2fui%2foauth%2fverify%3ferror%3d%26deviceudid%3d%24%7b%22freemarker' in l1) or (l1 is not None and _c18.fullmatch(str(l1)) is not None) or (l1 is not None and _c19.fullmatch(str(l1)) is not None) or (l1 is not None and _c20.fullmatch(str(l1)) is not None) or (l1 is not None and _c21.fullmatch(str(l1)) is not None) or ('/setup/setupadministrator.action' in l1) or ('/server-info.action' in l1) or ('/json/setup-restore.action' in l1) or ('/meta-inf/maven/com.atlassian.jira/' in l1) or ('/web-inf/classes/seraph-config.xml' in l1) or ('/web-inf/web.xml' in l1) or ('/dana/html5acc/guacamole/' in l1) or ('${jndi:' in l1) or ('%24%7bjndi%3a' in l1) or ('%24%7bjndi:' in l1)):
            m |= 1
        if (('/invokefunction&function=call_user_func_array' in l1) or ('%5cthink%5cview%5cdriver%5cphp/display' in l1) or ('\\think\\view\\driver\\php/display' in l1) or ('\\x5cthink\\x5cview\\x5cdriver\\x5cphp/display' in l1)):
            m |= 2
        if (v0 is not None and _c22.search(str(v0)) is not None):
            m |= 4
        if (v0 is not None and _c23.search(str(v0)) is not None):
            m |= 8
        if (v0 is not None and _c25.search(str(v0)) is not None):
            m |= 16
        if (('host_id' in l1) and ('local_data_ids' in l1)):
            m |= 32
        if (v0 is not None and _c26.search(str(v0)) is not None):
            m |= 64
        if (l1 is not None and _c27.fullmatch(str(l1)) is not None):
            m |= 128
        if (v0 is not None and _c30.search(str(v0)) is not None):
            m |= 256
        if ('/php/utils/createremoteappwebsession.php/' in l1):
            m |= 512
        if ((l1 is not None and _c35.fullmatch(str(l1)) is not None) and ('request=log' in l1) and ('task=create' in l1)):
            m |= 1024
        if ((l1 is not None and _c36.fullmatch(str(l1)) is not None) and ('view=options' in l1) and ('action=delete' in l1)):
            m |= 2048
        if (('../' in l1) or ('..\\' in l1) or ('..%2f' in l1) or ('..%5c' in l1) or ('%2e%2e' in l1) or ('%252e%252e' in l1) or ('/etc/passwd' in l1) or ('/etc/shadow' in l1) or ('win.ini' in l1) or ('/proc/self/environ' in l1)):
            m |= 4096
        if (("' or " in l1) or ("'or'" in l1) or ('%27%20or' in l1) or ('%27+or' in l1) or ('%27or' in l1) or (' or 1=1' in l1) or ('or%201=1' in l1) or ('or+1=1' in l1) or ('union select' in l1) or ('union%20select' in l1) or ('union+select' in l1) or ('union%20all%20select' in l1) or ('information_schema' in l1) or ('sleep(' in l1) or ('sleep%28' in l1) or ('benchmark(' in l1) or ('waitfor%20delay' in l1) or ('waitfor delay' in l1) or ("'--" in l1) or ('%27--' in l1) or ('%27%3b' in l1) or ('xp_cmdshell' in l1)):
            m |= 8192
        if (('<script' in l1) or ('%3cscript' in l1) or ('%253cscript' in l1) or ('javascript:' in l1) or ('onerror=' in l1) or ('onerror%3d' in l1) or ('onload=' in l1) or ('onload%3d' in l1) or ('<svg' in l1) or ('%3csvg' in l1) or ('alert(' in l1) or ('alert%28' in l1) or ('document.cookie' in l1)):
            m |= 16384
        if type(x) in _KEYED:
            if len(_c13) >= 2048:
                _c13.clear()
            _c13[x] = m
        return m
    def _mk8(x: Any) -> int:
        v0 = x
        l1 = v0.lower() if type(v0) is str else (_EMPTY if v0 is None else str(v0))
        m = 0
        if (l1 in _c53):
            m |= 1
        if (l1 in _c54):
            m |= 2
        if type(x) in _KEYED:
            if len(_c52) >= 2048:
                _c52.clear()
            _c52[x] = m
        return m
    def _match_all(V: dict[str, Any], L: dict[str, str]) -> tuple[int, ...]:
        v0 = V.get('apiwatch.login')
        v1 = V.get('user.name')
        v2 = V.get('http.response.status_code')
        v3 = V.get('user_agent.original')
        v4 = V.get('http.request.method')
        v5 = V.get('url.path')
        v6 = V.get('url.query')
        l7 = v6.lower() if type(v6) is str else (_EMPTY if v6 is None else str(v6))
        v8 = V.get('event.action')
        v9 = V.get('event.dataset')
        l10 = v9.lower() if type(v9) is str else (_EMPTY if v9 is None else str(v9))
        v11 = V.get('message')
        l12 = v11.lower() if type(v11) is str else (_EMPTY if v11 is None else str(v11))
        v13 = V.get('url.original')
        v14 = V.get('http.request.referrer')
        l15 = v14.lower() if type(v14) is str else (_EMPTY if v14 is None else str(v14))
        v16 = V.get('url.domain')
        v17 = V.get('http.version')
        v18 = V.get('apiwatch.flow')
        v19 = V.get('apiwatch.unknown_user')
        v20 = V.get('apiwatch.object_id')
        v21 = V.get('apiwatch.foreign')
        v22 = V.get('apiwatch.page_offset')
        v23 = V.get('apiwatch.owner_id')
        v24 = V.get('user.id')
        v25 = V.get('apiwatch.new_origin')
        l26 = v25.lower() if type(v25) is str else (_EMPTY if v25 is None else str(v25))
        v27 = V.get('apiwatch.account_change')
        l28 = v27.lower() if type(v27) is str else (_EMPTY if v27 is None else str(v27))
        v29 = V.get('labels.token_id')
        v30 = V.get('labels.session_id')
        _m0 = _c0.get(v0) if type(v0) in _KEYED else None
        if _m0 is None:
            _m0 = _mk0(v0)
        _m1 = _c1.get(v1) if type(v1) in _KEYED else None
        if _m1 is None:
            _m1 = _mk1(v1)
        _m2 = _c2.get(v2) if type(v2) in _KEYED else None
        if _m2 is None:
            _m2 = _mk2(v2)
        _m3 = _c5.get(v3) if type(v3) in _KEYED else None
        if _m3 is None:
            _m3 = _mk3(v3)
        _m4 = _c6.get(v4) if type(v4) in _KEYED else None
        if _m4 is None:
            _m4 = _mk4(v4)
        _m5 = _c7.get(v5) if type(v5) in _KEYED else None
        if _m5 is None:
            _m5 = _mk5(v5)
        _m6 = _c12.get(v8) if type(v8) in _KEYED else None
        if _m6 is None:
            _m6 = _mk6(v8)
        _m7 = _c13.get(v13) if type(v13) in _KEYED else None
        if _m7 is None:
            _m7 = _mk7(v13)
        _m8 = _c52.get(v18) if type(v18) in _KEYED else None
        if _m8 is None:
            _m8 = _mk8(v18)
        x = 0
        if (v6 is not None and _c9.search(str(v6)) is not None):
            x |= 1
        if ('author=' in l7):
            x |= 2
        if ((_m6 & 1) and (l10 == 'nginx.error')):
            x |= 4
        if ((_m6 & 4) and (l10 == 'nginx.error') and ('client login failed' in l12)):
            x |= 8
        if ('${jndi:' in l15):
            x |= 16
        if (l10 == 'nginx.access' and (v16 is not None and _c47.search(str(v16)) is not None) and _m2 & 1024):
            x |= 32
        if ((v17 is not None and _c50.search(str(v17)) is not None) and (not (v17 is not None and _c51.search(str(v17)) is not None))):
            x |= 64
        if (((_m8 & 2) and (v19 is True)) and (_m1 & 1)):
            x |= 128
        if (((v20 is not None) and (_m2 & 4096)) and (_m3 & 1)):
            x |= 256
        if ((v21 is True) and (_m4 & 1) and (_m2 & 8192)):
            x |= 512
        if (((_num(v22) >= 1000) and (_m4 & 1) and (_m2 & 8192)) and (not ((v23 is not None) and (not (v21 is True))))):
            x |= 1024
        if (((v23 is not None) and (_m4 & 1)) and (_m2 & 16384) and (not ((_m1 & 2) or (v24 is not None)))):
            x |= 2048
        if ((_m0 & 2) and (('country' in l26) or ('network' in l26))):
            x |= 4096
        if (l28 in _c60):
            x |= 8192
        if (v29 is not None):
            x |= 16384
        if (v30 is not None):
            x |= 32768
        m = _c61.get((_m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, x))
        if m is None:
            m = _verdict(_m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, x)
        return m
    return _match_all
