"""Boot real Debian systemd hosts with systemd-nspawn, each reachable over SSH on its own address.

Every host boots from a cached debootstrap rootfs of its suite (built by scripts/build-test-rootfs
when missing) through a per-host overlayfs, so a test never rebuilds or dirties the cache. Two
shapes: bookworm (Debian 12, sshd as ssh.service) and trixie (Debian 13, sshd started by
ssh.socket, the service model of Ubuntu 24.04); a lab may mix them. Each host gets its own
network namespace with a veth into a bridge this module creates on a private test subnet; the
bridge is the only route in or out, so the hosts can reach nothing but each other and the
controller. Optional loop devices stand in for a VM's second disk (/dev/sdb).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The cache directory holding one rootfs per suite (rootfs-bookworm, rootfs-trixie). A path that is
# itself a built rootfs (it has the builder's marker) names its directory, so pointing the variable
# at one suite's rootfs never gets that rootfs rebuilt as another suite.
ROOTFS_MARKER = ".homelab-rootfs-complete"
SUITES = ("bookworm", "trixie")
NEEDED_PROGRAMS = ("debootstrap", "systemd-nspawn", "ip", "ssh", "ssh-keygen", "losetup", "mkfs.ext4", "blkid",
                   "sfdisk")


def unavailable_reason() -> str | None:
    """Why real test hosts cannot be booted here, or None when they can."""
    if os.geteuid() != 0:
        return "booting nspawn test hosts needs root (debootstrap, network namespaces, loop devices)"
    missing = [p for p in NEEDED_PROGRAMS if shutil.which(p) is None]
    if missing:
        return f"missing programs for the real-host tests: {', '.join(missing)} (run scripts/setup-test-env)"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control: loop devices (the stand-in for /dev/sdb) are unavailable"
    return None


def rootfs_dir() -> Path:
    configured = Path(os.environ.get("HOMELAB_TEST_ROOTFS", "/var/cache/homelab-tests"))
    return configured.parent if (configured / ROOTFS_MARKER).exists() else configured


def rootfs_path(suite: str) -> Path:
    if suite not in SUITES:
        raise ValueError(f"unknown test host suite {suite!r}; known: {', '.join(SUITES)}")
    return rootfs_dir() / f"rootfs-{suite}"


def ensure_rootfs(suite: str) -> Path:
    """Build the suite's cached rootfs once (under a lock, so parallel test workers wait for one build)."""
    path = rootfs_path(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".build-{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # The script returns at once when the cache matches its suite and package list, else (re)builds it.
        subprocess.run([str(ROOT / "scripts" / "build-test-rootfs"), suite, str(path)], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    return path


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no interface on this machine uses yet."""
    used = _run("ip", "-4", "-o", "addr", "show").stdout
    for third in [os.getpid() % 200 + 20, *range(20, 250)]:
        net = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if f" 10.213.{third}." not in used:
            return net
    raise RuntimeError("no free test subnet in 10.213.0.0/16")


@dataclass
class Disk:
    """A sparse image attached to a loop device; the host sees it as `device` (e.g. /dev/sdb)."""

    image: Path
    loop: str
    device: str

    def uuid(self) -> str:
        return self.probe().get("UUID", "")

    def probe(self) -> dict[str, str]:
        """What blkid finds on the device itself (TYPE, UUID, PTTYPE, ...); empty when blank."""
        out = _run("blkid", "-p", "-o", "export", self.loop, check=False).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@dataclass
class Host:
    name: str
    suite: str
    address: str
    netns: str
    root: Path
    key: Path
    log: Path
    disks: list[Disk] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def ssh(self, command: str, user: str = "root", timeout: float = 60,
            port: int = 22) -> subprocess.CompletedProcess[str]:
        """`command` over a new SSH connection (no multiplexing: each call proves sshd accepts one)."""
        return subprocess.run(
            ["ssh", *ssh_options(self.key), "-p", str(port), f"{user}@{self.address}", command],
            capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def ssh_options(key: Path) -> list[str]:
    return ["-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"]


class Lab:
    """Boots `names` as hosts; use as a context manager so everything is torn down again.

    `suites` maps a host name to its suite (see SUITES); hosts not named there boot bookworm.

    `disks` maps a host name to a list of (device inside the host, size in MiB, content) where
    content is None (blank), "ext4" (a filesystem holding a marker file EXISTING-DATA) or "gpt"
    (a partition table, no filesystem): the last two prove that a disk in use is never formatted.
    """

    def __init__(self, workdir: Path, names: list[str],
                 disks: dict[str, list[tuple[str, int, str | None]]] | None = None,
                 suites: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.names = names
        self.suites = {name: (suites or {}).get(name, "bookworm") for name in names}
        self.disk_specs = disks or {}
        self.tag = f"{os.getpid() % 100000:05d}"
        self.bridge = f"hlb{self.tag}"
        self.subnet = _free_subnet()
        self.gateway = str(self.subnet.network_address + 1)
        self.hosts: dict[str, Host] = {}
        self.key = workdir / "id_ed25519"
        self._mounts: list[Path] = []

    # -- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        rootfs = {suite: ensure_rootfs(suite) for suite in sorted(set(self.suites.values()))}
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "homelab-test", "-f", str(self.key))
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for index, name in enumerate(self.names):
            self.hosts[name] = self._make_host(rootfs[self.suites[name]], index, name)
        for host in self.hosts.values():
            self._boot(host)
        for host in self.hosts.values():
            self._wait_for_ssh(host)

    def _make_host(self, rootfs: Path, index: int, name: str) -> Host:
        address = str(self.subnet.network_address + 11 + index)
        netns = f"hl{self.tag}-{index}"
        base = self.workdir / name
        for sub in ("upper", "work", "root"):
            (base / sub).mkdir(parents=True)
        root = base / "root"
        _run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={rootfs},upperdir={base / 'upper'},workdir={base / 'work'}", str(root))
        self._mounts.append(root)
        # Network: veth from the bridge into the host's own namespace, a static address, no default route.
        _run("ip", "netns", "add", netns)
        outside, inside = f"hlv{self.tag}{index}", f"hli{self.tag}{index}"
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("ip", "link", "set", outside, "master", self.bridge, "up")
        _run("ip", "link", "set", inside, "netns", netns)
        _run("ip", "-n", netns, "link", "set", inside, "name", "eth0")
        _run("ip", "-n", netns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _run("ip", "-n", netns, "link", "set", "eth0", "up")
        _run("ip", "-n", netns, "link", "set", "lo", "up")
        # Identity and access: hostname, our test key for root.
        (root / "etc" / "hostname").write_text(f"{name}\n")
        hosts_lines = ["127.0.0.1 localhost", f"{address} {name}"]
        (root / "etc" / "hosts").write_text("\n".join(hosts_lines) + "\n")
        auth = root / "root" / ".ssh" / "authorized_keys"
        auth.write_text(self.key.with_suffix(".pub").read_text())
        auth.chmod(0o600)
        host = Host(name=name, suite=self.suites[name], address=address, netns=netns, root=root, key=self.key, log=base / "console.log")
        for device, size_mib, content in self.disk_specs.get(name, []):
            host.disks.append(self._make_disk(base, device, size_mib, content))
        return host

    def _make_disk(self, base: Path, device: str, size_mib: int, content: str | None) -> Disk:
        image = base / f"{Path(device).name}.img"
        with open(image, "wb") as f:
            f.truncate(size_mib * 1024 * 1024)
        if content == "ext4":
            tree = base / f"{Path(device).name}-content"
            tree.mkdir()
            (tree / "EXISTING-DATA").write_text("written before the first Ansible run\n")
            _run("mkfs.ext4", "-q", "-L", "existing", "-d", str(tree), str(image))
        elif content == "gpt":
            subprocess.run(["sfdisk", "--quiet", str(image)], input="label: gpt\n,,L\n", text=True,
                           check=True, capture_output=True, timeout=60)
        elif content is not None:
            raise ValueError(f"unknown disk content {content!r}")
        loop = _run("losetup", "--find", "--show", str(image)).stdout.strip()
        return Disk(image=image, loop=loop, device=device)

    def _boot(self, host: Host) -> None:
        cmd = ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
               f"--directory={host.root}", f"--machine={host.name}",
               f"--network-namespace-path=/run/netns/{host.netns}",
               "--timezone=off", "--link-journal=no", "--resolv-conf=off",
               # its own namespace, so network administration (sysctls such as ip_forward) stays inside
               "--capability=CAP_NET_ADMIN"]
        for disk in host.disks:
            # The device under its VM name, and under its own name so blkid/mount find it by UUID.
            cmd += [f"--bind={disk.loop}:{disk.device}", f"--bind={disk.loop}"]
        with open(host.log, "wb") as log:
            # The namespace is private to the host, so its /proc/sys/net may be writable (K3s sysctls).
            env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
            host.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=env)

    def _wait_for_ssh(self, host: Host, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.proc is not None and host.proc.poll() is not None:
                raise RuntimeError(f"{host.name} stopped while booting; console log: {host.log}")
            if host.ssh("true", timeout=10).returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"{host.name} ({host.address}) not reachable over SSH after {timeout}s; see {host.log}")

    # -- tear-down ---------------------------------------------------------------------------
    def close(self) -> None:
        for host in self.hosts.values():
            if host.proc is not None and host.proc.poll() is None:
                host.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
        for host in self.hosts.values():
            if host.proc is not None:
                try:
                    host.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    host.proc.kill()
                    host.proc.wait(timeout=10)
        for host in self.hosts.values():
            for disk in host.disks:
                _run("losetup", "-d", disk.loop, check=False)
            _run("ip", "netns", "delete", host.netns, check=False)
        for root in reversed(self._mounts):
            _run("umount", "--lazy", str(root), check=False)
        with contextlib.suppress(Exception):
            _run("ip", "link", "delete", self.bridge, check=False)
