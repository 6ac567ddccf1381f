package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Unit says what `fazt proc install` writes.
type Unit struct {
	// Binary is the installed fazt, run by the service and replaced by
	// upgrades (so its directory must stay writable to the service).
	Binary string
	// DataDir is the service's data directory.
	DataDir string
	// Mount, if set, is where the service mounts the tree for the host.
	Mount string
	// Version is the version of the fazt that wrote the unit.
	Version string
}

// UnitName is the service's unit file name.
const UnitName = "fazt.service"

// Render returns the unit file. It is hardened as far as fazt's work
// allows: no new privileges, only the capabilities to bind ports below
// 1024 (and, with a mount, to mount FUSE), a private /tmp and a read-only
// system except for the data directory and the binary's directory (which
// upgrades write). A mount needs the host's mount namespace: every option
// that would give the service its own (ProtectSystem, PrivateTmp, ...)
// would hide the mount from the host, so with Mount those are left out.
func (u Unit) Render() ([]byte, error) {
	for _, p := range []string{u.Binary, u.DataDir, u.Mount} {
		if p != "" && (!filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n\"'\\%$")) {
			return nil, fmt.Errorf("%q: the unit needs absolute paths without spaces, quotes, %% or $", p)
		}
	}
	if u.Binary == "" || u.DataDir == "" {
		return nil, fmt.Errorf("the unit needs the binary and the data directory")
	}
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Unit
		BinDir string
	}{u, filepath.Dir(u.Binary)})
	return b.Bytes(), err
}

var unitTemplate = template.Must(template.New("unit").Parse(`# Written by fazt proc install (fazt {{.Version}}); fazt proc uninstall removes it.
# See docs/operating.md.
[Unit]
Description=fazt: a personal cloud in one binary
Documentation=https://github.com/fazt-sh/fazt/blob/main/docs/operating.md
After=network-online.target
Wants=network-online.target

[Service]
# The kernel says when it serves (READY=1), and after an upgrade names its
# successor as the main process (MAINPID=), which needs NotifyAccess=all.
Type=notify
NotifyAccess=all
ExecStart={{.Binary}} --data {{.DataDir}} proc start{{if .Mount}} --mount {{.Mount}}{{end}}
Environment=FAZT_HOME={{.DataDir}}
# SIGTERM to the kernel only: it stops its backup child itself, after the
# child has sent what is left to the replica.
KillMode=mixed
TimeoutStartSec=10min
TimeoutStopSec=2min
Restart=on-failure
RestartSec=2s
LimitNOFILE=65536

UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_KILL{{if .Mount}} CAP_SYS_ADMIN{{end}}
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
ProtectClock=yes
ProtectHostname=yes
{{- if .Mount}}
DeviceAllow=/dev/fuse rw
# The tree is mounted for the host at {{.Mount}}: the service shares the
# host's mount namespace, so ProtectSystem, ProtectHome, PrivateTmp,
# PrivateDevices and ProtectKernel* (which would each give it its own) are
# not set.
{{- else}}
ProtectSystem=strict
ReadWritePaths={{.DataDir}} {{.BinDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectKernelLogs=yes
{{- end}}

[Install]
WantedBy=multi-user.target
`))

// SystemdRunning reports whether systemd is the init system here.
func SystemdRunning() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}
