"""The OVN northbound adapter's pure parts: ovn.conf, exact ovn-nbctl argv, error mapping.

The adapter against a real NB (and a real chassis's OVS) is tested in tests/ovn/test_ovn_contract.py.
"""

from __future__ import annotations

import os

import pytest

from hooks.adapters import ovn
from hooks.adapters.ovn import OvnConfig
from hooks.errors import HostError, HostTimeout, InsecurePath, NotFound
from xmltools.errors import InputError, InvalidValue

PORT = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e5f"
ROW = "7fc883aa-57d8-4100-b280-a0796eef51b9"
TCP = OvnConfig("tcp:192.0.2.10:6641")
SSL = OvnConfig("ssl:192.0.2.10:6641,ssl:192.0.2.11:6641", "/k.pem", "/c.pem", "/ca.pem")


# ----------------------------------------------------------------- ovn.conf

def test_parse_ovn_config_tcp_unix_and_clustered_ssl():
    assert ovn.parse_ovn_config("# where NB is\nnb = tcp:192.0.2.10:6641  # one\n", "f") == TCP
    assert ovn.parse_ovn_config("nb=unix:/run/ovn/ovnnb_db.sock", "f").nb == "unix:/run/ovn/ovnnb_db.sock"
    text = ("nb = ssl:192.0.2.10:6641, ssl:192.0.2.11:6641\nssl-key = /k.pem\nssl-cert = /c.pem\n"
            "ssl-ca = /ca.pem\n")
    assert ovn.parse_ovn_config(text, "f") == SSL
    assert ovn.parse_ovn_config("nb = tcp:[2001:db8::1]:6641", "f").nb == "tcp:[2001:db8::1]:6641"
    assert ovn.parse_ovn_config("nb = tcp:nb.example:6641", "f").nb == "tcp:nb.example:6641"


@pytest.mark.parametrize("text,message", [
    ("", "^f: no 'nb = …' line"),
    ("# only a comment\n", "^f: no 'nb = …' line"),
    ("nb\n", "^f:1: expected 'key = value'"),
    ("nb =\n", "^f:1: expected 'key = value'"),
    ("colour = blue\n", "^f:1: unknown key 'colour'"),
    ("nb = tcp:a:1\nnb = tcp:b:1\n", "^f:2: 'nb' is set twice"),
    ("nb = tcp:192.0.2.1\n", "expected tcp:HOST:PORT"),
    ("nb = tcp:192.0.2.1:0\n", "port out of range"),
    ("nb = tcp:192.0.2.1:70000\n", "port out of range"),
    ("nb = http://192.0.2.1:6641\n", "expected tcp:HOST:PORT"),
    ("nb = tcp:-x:6641\n", "expected tcp:HOST:PORT"),
    ("nb = unix:run/nb.sock\n", "absolute path"),
    ("nb = tcp:a:1,\n", "nb remote ''"),
    ("nb = ssl:a:1\nssl-key = /k\n", "^f: an ssl: remote needs ssl-cert, ssl-ca$"),
    ("nb = tcp:a:1\nssl-key = k.pem\n", "ssl-key must be an absolute path"),
])
def test_parse_ovn_config_refuses(text, message):
    with pytest.raises(InputError, match=message):
        ovn.parse_ovn_config(text, "f")


def test_load_ovn_config_missing_is_none_and_present_is_parsed(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    assert ovn.load_ovn_config(str(folder)) is None
    (folder / "ovn.conf").write_text("nb = tcp:192.0.2.10:6641\n")
    os.chmod(folder / "ovn.conf", 0o644)
    config = ovn.load_ovn_config(str(folder))
    assert config == TCP and config is not None and config.source == str(folder / "ovn.conf")


def test_load_ovn_config_follows_the_trust_rules(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    real = tmp_path / "elsewhere.conf"
    real.write_text("nb = tcp:192.0.2.10:6641\n")
    (folder / "ovn.conf").symlink_to(real)
    os.lchown(folder / "ovn.conf", 65534, 65534)
    with pytest.raises(InsecurePath, match="OVN configuration file .*symbolic link owned by uid 65534"):
        ovn.load_ovn_config(str(folder))
    (folder / "ovn.conf").unlink()
    (folder / "ovn.conf").write_text("nb = tcp:192.0.2.10:6641\n")
    os.chmod(folder / "ovn.conf", 0o666)
    with pytest.raises(InsecurePath, match="group- and world-writable"):
        ovn.load_ovn_config(str(folder))
    os.chmod(folder / "ovn.conf", 0o644)
    os.mkfifo(folder / "fifo")
    os.rename(folder / "fifo", folder / "ovn.conf")
    with pytest.raises(InsecurePath, match="not a regular file"):
        ovn.load_ovn_config(str(folder))


def test_load_ovn_config_reads_a_bounded_amount(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    # A huge file is read up to the limit only: its tail (a valid line) is never seen.
    (folder / "ovn.conf").write_text("#" * ovn.CONF_LIMIT + "\nnb = tcp:192.0.2.10:6641\n")
    os.chmod(folder / "ovn.conf", 0o644)
    with pytest.raises(InputError, match="no 'nb = …' line"):
        ovn.load_ovn_config(str(folder))


def test_ovn_config_path_follows_the_configuration_folder(monkeypatch):
    monkeypatch.delenv("VIRT_NETXML_CONFIG_DIR", raising=False)
    assert ovn.ovn_config_path() == "/etc/virt-netxml/ovn.conf"
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", "/x")
    assert ovn.ovn_config_path() == "/x/ovn.conf"


# ----------------------------------------------------------------- names and values

@pytest.mark.parametrize("name", ["0B5C6A4E-8A55-4C5E-9A0C-3F1C2B3D4E5F", PORT])
def test_port_names_are_uuids_in_lower_case(name):
    assert ovn.port_name(name) == PORT


@pytest.mark.parametrize("name", ["lsp-a", "", "0b5c6a4e8a554c5e9a0c3f1c2b3d4e5f", PORT + "0",
                                  "-" + PORT[1:]])
def test_port_names_refused(name):
    with pytest.raises(InvalidValue, match="OVN port name"):
        ovn.port_name(name)


@pytest.mark.parametrize("name,reason", [
    ("", "expected 1-63"), ("-ls", "expected 1-63"), ("ls 1", "expected 1-63"), ("l" * 64, "expected 1-63"),
    ("ls\n1", "expected 1-63"), ("cafe", "could read it as a UUID"), (PORT, "could read it as a UUID"),
])
def test_switch_names_refused(name, reason):
    with pytest.raises(InvalidValue, match=reason):
        ovn.switch_name(name)


def test_switch_names_accepted():
    for name in ("ls1", "tenant-a.net_2", "x", "l" * 63):
        assert ovn.switch_name(name) == name


def test_port_addresses_static_dynamic_and_refusals():
    assert ovn.port_addresses("52:54:00:AA:00:01", "10.0.0.5") == "52:54:00:aa:00:01 10.0.0.5"
    assert ovn.port_addresses("52:54:00:aa:00:01", None) == "52:54:00:aa:00:01 dynamic"
    assert ovn.port_addresses("52:54:00:aa:00:01", "2001:db8::5") == "52:54:00:aa:00:01 2001:db8::5"
    with pytest.raises(InvalidValue, match="MAC address"):
        ovn.port_addresses("52:54:00:aa:00", None)
    with pytest.raises(InvalidValue, match="multicast"):
        ovn.port_addresses("01:00:5e:00:00:01", None)
    with pytest.raises(InvalidValue, match="IP address"):
        ovn.port_addresses("52:54:00:aa:00:01", "10.0.0.5 dynamic")


# ----------------------------------------------------------------- argv (exact)

def test_nbctl_argv_tcp_and_ssl():
    assert ovn.nbctl_argv(TCP, [["ls-add", "ls1"], ["ls-list"]], 2.5) == [
        "ovn-nbctl", "--db=tcp:192.0.2.10:6641", "--timeout=3", "--", "ls-add", "ls1", "--", "ls-list"]
    assert ovn.nbctl_argv(SSL, [["ls-list"]], 0.2, format_json=True) == [
        "ovn-nbctl", "--db=ssl:192.0.2.10:6641,ssl:192.0.2.11:6641", "--timeout=1",
        "--private-key=/k.pem", "--certificate=/c.pem", "--ca-cert=/ca.pem", "--format=json", "--", "ls-list"]


def test_create_switch_cmds():
    assert ovn.create_switch_cmds("ls1") == [["ls-add", "ls1"]]
    assert ovn.create_switch_cmds("ls1", "10.0.0.0/24") == [
        ["ls-add", "ls1"],
        ["set", "Logical_Switch", "ls1", 'other_config:subnet="10.0.0.0/24"',
         'other_config:exclude_ips="10.0.0.1"']]
    assert ovn.create_switch_cmds("ls1", "10.0.0.0/24", dhcp=True)[2] == [
        "create", "DHCP_Options", 'cidr="10.0.0.0/24"',
        'options={lease_time="3600", router="10.0.0.1", server_id="10.0.0.1", '
        'server_mac="0a:00:0a:00:00:00"}',
        'external_ids:virt-netxml-switch="ls1"']


@pytest.mark.parametrize("subnet,dhcp,reason", [
    (None, True, "DHCP needs a subnet"), ("10.0.0.1/24", False, "host bits set"),
    ("10.0.0.0/31", False, "/30 or larger"), ("2001:db8::/64", False, "IPv4"), ("ten", False, "OVN subnet"),
])
def test_create_switch_cmds_refuses(subnet, dhcp, reason):
    with pytest.raises(InvalidValue, match=reason):
        ovn.create_switch_cmds("ls1", subnet, dhcp)


def test_create_and_update_port_cmds():
    assert ovn.create_port_cmds("ls1", PORT.upper(), "52:54:00:aa:00:01", "10.0.0.5", "chassis1",
                                "vm1", "vnet0") == [
        ["--may-exist", "lsp-add", "ls1", PORT],
        ["lsp-set-addresses", PORT, "52:54:00:aa:00:01 10.0.0.5"],
        ["set", "Logical_Switch_Port", PORT, 'options:requested-chassis="chassis1"',
         'external_ids:virt-netxml-domain="vm1"', 'external_ids:virt-netxml-interface="vnet0"']]
    assert ovn.update_port_cmds(ROW, "52:54:00:aa:00:01", None, "chassis2", 'v"m', "vnet0", ROW) == [
        ["lsp-set-addresses", ROW, "52:54:00:aa:00:01 dynamic"],
        ["set", "Logical_Switch_Port", ROW, 'options:requested-chassis="chassis2"',
         'external_ids:virt-netxml-domain="v\\"m"', 'external_ids:virt-netxml-interface="vnet0"'],
        ["set", "Logical_Switch_Port", ROW, f"dhcpv4_options={ROW}"]]


@pytest.mark.parametrize("call,what", [
    (lambda: ovn.update_port_cmds("row1", "52:54:00:aa:00:01", None, "c", "d", "i"), "OVN port row"),
    (lambda: ovn.create_port_cmds("ls1", PORT, "52:54:00:aa:00:01", None, "-c", "d", "i"), "chassis name"),
    (lambda: ovn.create_port_cmds("ls1", PORT, "52:54:00:aa:00:01", None, "c", "d\x01", "i"), "OVS value"),
    (lambda: ovn.create_port_cmds("ls1", PORT, "52:54:00:aa:00:01", None, "c", "d", "i", "x"),
     "DHCP_Options"),
    (lambda: ovn.delete_port_cmds(PORT[:8], "c"), "OVN port row"),
    (lambda: ovn.delete_port_cmds(ROW, "c,d"), "chassis name"),
])
def test_port_cmds_refuse_bad_values(call, what):
    with pytest.raises(InvalidValue, match=what):
        call()


def test_read_and_delete_cmds():
    assert ovn.find_port_cmds(PORT) == [
        ["--columns=_uuid,name,options,external_ids,addresses,dhcpv4_options,port_security", "find",
         "Logical_Switch_Port", f'name="{PORT}"'],
        ["--if-exists", "get", "Logical_Switch_Port", PORT, "name"]]
    assert ovn.delete_port_cmds(ROW, "chassis1") == [
        ["wait-until", "Logical_Switch_Port", ROW, 'options:requested-chassis="chassis1"'],
        ["--if-exists", "lsp-del", ROW]]
    assert ovn.switch_of_port_cmd(ROW) == ["--columns=name", "find", "Logical_Switch", f"ports{{>=}}{ROW}"]
    assert ovn.dhcp_options_cmd("ls1") == [
        "--columns=_uuid", "find", "DHCP_Options", 'external_ids:virt-netxml-switch="ls1"']
    assert ovn.probe_cmd() == ["--columns=_uuid", "list", "NB_Global"]
    assert ovn.system_id_cmd() == ["get", "Open_vSwitch", ".", "external_ids:system-id"]


# ----------------------------------------------------------------- parsers and errors

def test_requested_chassis():
    assert ovn.requested_chassis({}) == []
    assert ovn.requested_chassis({"requested-chassis": "c1"}) == ["c1"]
    assert ovn.requested_chassis({"requested-chassis": "c1,c2"}) == ["c1", "c2"]


def test_rows_decode_ovsdb_json():
    table = {"headings": ["_uuid", "options"],
             "data": [[["uuid", ROW], ["map", [["requested-chassis", "c1"]]]]]}
    assert ovn.rows(table) == [{"_uuid": ROW, "options": {"requested-chassis": "c1"}}]


def test_classify_error_names_the_unreachable_database():
    refused = HostError(step="run ovn-nbctl", detail="x", returncode=1,
                        stderr="ovn-nbctl: tcp:192.0.2.10:6641: database connection failed "
                               "(Connection refused)\n")
    error = ovn.classify_error("read", refused, 2.0, "tcp:192.0.2.10:6641")
    assert str(error) == ("read: OVN northbound database tcp:192.0.2.10:6641 unreachable: "
                          "tcp:192.0.2.10:6641: database connection failed (Connection refused)")
    alarm = HostError(step="s", detail="x", returncode=-14, stderr="")
    timed = ovn.classify_error("read", alarm, 2.0, "tcp:a:1")
    assert isinstance(timed, HostTimeout)
    assert str(timed) == "read (OVN northbound database tcp:a:1): timed out after 2s"
    missing = HostError(step="s", detail="x", returncode=1,
                        stderr='ovn-nbctl: no row "abc" in table Logical_Switch_Port\n')
    assert isinstance(ovn.classify_error("set", missing, 2.0, "n"), NotFound)
    other = HostError(step="s", detail="x", returncode=1,
                      stderr="warning\novn-nbctl: ls1: a switch with this name already exists\n")
    assert str(ovn.classify_error("create", other, 2.0, "n")) == (
        "create: ls1: a switch with this name already exists")


def test_load_ovn_config_checks_the_ssl_files_like_the_file_itself(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    files = {key: tmp_path / f"{key}.pem" for key in ("ssl-key", "ssl-cert", "ssl-ca")}
    for path in files.values():
        path.write_text("PEM\n")
        os.chmod(path, 0o600)
    text = "nb = ssl:192.0.2.10:6641\n" + "".join(f"{k} = {p}\n" for k, p in files.items())
    (folder / "ovn.conf").write_text(text)
    os.chmod(folder / "ovn.conf", 0o644)
    assert ovn.load_ovn_config(str(folder)).ssl_ca == str(files["ssl-ca"])
    # A CA file others can rewrite would let them vouch for any northbound database.
    os.chmod(files["ssl-ca"], 0o666)
    with pytest.raises(InsecurePath, match=f"OVN ssl-ca file {files['ssl-ca']}: group- and world-writable"):
        ovn.load_ovn_config(str(folder))
    os.chmod(files["ssl-ca"], 0o644)
    files["ssl-key"].unlink()
    with pytest.raises(InputError, match=f"OVN ssl-key file {files['ssl-key']}: does not exist"):
        ovn.load_ovn_config(str(folder))


# ----------------------------------------------------------------- migration and undo builders

def test_a_port_requested_on_two_chassis_is_activated_by_rarp():
    assert ovn.create_port_cmds("ls1", PORT, "52:54:00:aa:00:01", None, ["chassis1", "chassis2"], "vm1",
                                "vnet0")[2] == [
        "set", "Logical_Switch_Port", PORT, 'options:requested-chassis="chassis1,chassis2"',
        'options:activation-strategy="rarp"', 'external_ids:virt-netxml-domain="vm1"',
        'external_ids:virt-netxml-interface="vnet0"']


@pytest.mark.parametrize("chassis,ok", [
    (["c1"], True), (["c1", "c2"], True), ([], False), (["c1", "c2", "c3"], False), (["c1", "c1"], False),
    (["c1", "c,2"], False),
])
def test_chassis_list_takes_one_or_two_different_chassis(chassis, ok):
    if ok:
        assert ovn.chassis_list(chassis) == chassis
    else:
        with pytest.raises(InvalidValue):
            ovn.chassis_list(chassis)


def test_set_chassis_cmds_hold_only_while_the_port_is_as_read():
    assert ovn.set_chassis_cmds(ROW, ["c1", "c2"], ["c1"]) == [
        ["wait-until", "Logical_Switch_Port", ROW, 'options:requested-chassis="c1"'],
        ["set", "Logical_Switch_Port", ROW, 'options:requested-chassis="c1,c2"',
         'options:activation-strategy="rarp"']]
    assert ovn.set_chassis_cmds(ROW, ["c2"], ["c1", "c2"]) == [
        ["wait-until", "Logical_Switch_Port", ROW, 'options:requested-chassis="c1,c2"'],
        ["set", "Logical_Switch_Port", ROW, 'options:requested-chassis="c2"'],
        ["remove", "Logical_Switch_Port", ROW, "options", "activation-strategy"]]
    with pytest.raises(InvalidValue, match="OVN port row"):
        ovn.set_chassis_cmds(PORT[:8], ["c1"], ["c2"])


def test_restore_port_cmds_put_back_what_was_read():
    assert ovn.restore_port_cmds(ROW, ["52:54:00:aa:00:01 10.0.0.5"], {"requested-chassis": "c1",
                                 "activation-strategy": None}, {"virt-netxml-domain": "vm1"}, None) == [
        ["lsp-set-addresses", ROW, "52:54:00:aa:00:01 10.0.0.5"],
        ["lsp-set-port-security", ROW],
        ["remove", "Logical_Switch_Port", ROW, "options", "activation-strategy"],
        ["set", "Logical_Switch_Port", ROW, 'options:requested-chassis="c1"'],
        ["set", "Logical_Switch_Port", ROW, 'external_ids:virt-netxml-domain="vm1"'],
        ["clear", "Logical_Switch_Port", ROW, "dhcpv4_options"]]
    assert ovn.restore_port_cmds(ROW, [], {}, {}, ROW)[-1] == [
        "set", "Logical_Switch_Port", ROW, f"dhcpv4_options={ROW}"]
    with pytest.raises(InvalidValue, match="options key"):
        ovn.restore_port_cmds(ROW, [], {"a b": "x"}, {}, None)
    with pytest.raises(InvalidValue, match="DHCP_Options"):
        ovn.restore_port_cmds(ROW, [], {}, {}, "not-a-row")


def test_delete_switch_cmds_name_the_switch_and_its_dhcp_rows():
    assert ovn.delete_switch_cmds("ls1", [ROW]) == [
        ["--if-exists", "ls-del", "ls1"], ["--if-exists", "destroy", "DHCP_Options", ROW]]
    with pytest.raises(InvalidValue):
        ovn.delete_switch_cmds("abc1", [])
    with pytest.raises(InvalidValue, match="DHCP_Options row"):
        ovn.delete_switch_cmds("ls1", ["row"])


def test_port_security_is_the_mac_and_the_static_address_only():
    static = ovn.create_port_cmds("ls1", PORT, "52:54:00:aa:00:01", "10.0.0.5", "c1", "vm1", "i",
                                  port_security=True)
    assert static[-1] == ["lsp-set-port-security", PORT, "52:54:00:aa:00:01 10.0.0.5"]
    dynamic = ovn.update_port_cmds(ROW, "52:54:00:aa:00:01", None, "c1", "vm1", "i", port_security=True)
    assert dynamic[-1] == ["lsp-set-port-security", ROW, "52:54:00:aa:00:01"]
    # Without it nothing about port security is written (an existing setting is not the hooks' to drop).
    assert all(c[0] != "lsp-set-port-security" for c in ovn.create_port_cmds(
        "ls1", PORT, "52:54:00:aa:00:01", "10.0.0.5", "c1", "vm1", "i"))
    assert ovn.restore_port_cmds(ROW, [], {}, {}, None, ["52:54:00:aa:00:01"])[1] == [
        "lsp-set-port-security", ROW, "52:54:00:aa:00:01"]


def test_a_host_without_ovn_nbctl_is_told_which_program_is_missing(tmp_path, monkeypatch):
    """Debian ships ovn-nbctl in ovn-common, which a libvirt host need not have: the one line
    names the program, not only the errno text."""
    monkeypatch.setenv("PATH", str(tmp_path))      # an empty folder: no ovn-nbctl on the path
    adapter = ovn.OvnAdapter(OvnConfig("tcp:127.0.0.1:6641"), timeout=2.0)
    with pytest.raises(HostError) as caught:
        adapter.probe()
    assert str(caught.value).endswith(": cannot run ovn-nbctl: No such file or directory"), str(caught.value)
