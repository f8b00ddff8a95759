"""test_install.py - `make install` layout, the systemd units (checked with
systemd-analyze verify), and the example configuration."""
import os
import re
import subprocess

from harness import BUILD, DAEMONS, TOP, TmpDir, main, test

UNITS = ["cairn-%s.service" % d for d in DAEMONS] + ["cairn.target"]


def install(dest):
    b = os.path.relpath(BUILD, TOP)
    san = ["SAN=1"] if b == "build-san" else []
    r = subprocess.run(["make", "-s", "-C", TOP, "install", "DESTDIR=" + dest,
                        "PREFIX=/usr", "B=" + b] + san,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


@test
def make_install_honours_prefix_and_destdir():
    tmp = TmpDir()
    try:
        d = tmp.path
        install(d)
        for p in ["usr/bin/cairn"] + ["usr/bin/cairn-" + x for x in DAEMONS]:
            assert os.access(os.path.join(d, p), os.X_OK), p
        for u in UNITS:
            assert os.path.isfile(os.path.join(d, "lib/systemd/system", u)), u
        assert os.path.isfile(os.path.join(d, "etc/cairn.d/cairn.json"))
        assert os.path.isfile(os.path.join(d, "usr/lib/sysusers.d/cairn.conf"))
        # a different prefix moves everything under it
        d2 = os.path.join(d, "alt")
        b = os.path.relpath(BUILD, TOP)
        r = subprocess.run(["make", "-s", "-C", TOP, "install", "DESTDIR=" + d2,
                            "PREFIX=/opt/cairn", "B=" + b] +
                           (["SAN=1"] if b == "build-san" else []),
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert os.access(os.path.join(d2, "opt/cairn/bin/cairn"), os.X_OK)
        unit = open(os.path.join(d2, "opt/cairn/lib/systemd/system/cairn-raftd.service")).read()
        assert "ExecStart=/opt/cairn/bin/cairn-raftd " in unit, unit
        assert "@BINDIR@" not in unit and "@SYSCONFDIR@" not in unit
    finally:
        tmp.cleanup()


@test
def units_pass_systemd_analyze_verify():
    tmp = TmpDir()
    try:
        d = tmp.path
        install(d)
        units = os.path.join(d, "lib/systemd/system")
        # point ExecStart at the staged binaries so verify can check them
        check = os.path.join(d, "verify")
        os.mkdir(check)
        for u in UNITS:
            s = open(os.path.join(units, u)).read()
            s = s.replace("/usr/bin/", os.path.join(d, "usr/bin") + "/")
            open(os.path.join(check, u), "w").write(s)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                           [os.path.join(check, u) for u in UNITS],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
        # a broken unit is caught (so the check above can fail)
        bad = os.path.join(check, "cairn-broken.service")
        open(bad, "w").write(open(os.path.join(check, UNITS[0])).read()
                             .replace("Type=notify", "Type=bogus"))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", bad],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 or "bogus" in r.stderr, r
    finally:
        tmp.cleanup()


@test
def units_are_notify_reloadable_and_independent():
    for u in UNITS[:-1]:
        s = open(os.path.join(TOP, "systemd", u)).read()
        assert "Type=notify" in s, u
        assert "ExecReload=/bin/kill -HUP $MAINPID" in s, u
        assert "PartOf=cairn.target" in s, u
        assert "Restart=on-failure" in s, u
        # restarting one unit must not take others with it: no daemon unit
        # Requires/BindsTo another daemon unit
        assert not re.search(r"^(Requires|BindsTo|Requisite)=.*cairn-", s, re.M), u
    t = open(os.path.join(TOP, "systemd", "cairn.target")).read()
    for d in DAEMONS:
        assert "cairn-%s.service" % d in t


@test
def example_config_is_valid_for_every_daemon():
    tmp = TmpDir()
    try:
        install(tmp.path)
        cdir = os.path.join(tmp.path, "etc/cairn.d")
        for d in DAEMONS:
            r = subprocess.run([os.path.join(BUILD, "cairn-" + d), "-config-test",
                                "-config-dir", cdir], capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0 and "Configuration is valid!" in r.stdout, (d, r)
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
