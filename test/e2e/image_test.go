package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cybsecops/configreport/internal/ociimage"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// services is where the run's trigger, scanners and aggregators come
// from: the binaries the test builds into out/e2e/bin, or, with E2E_IMAGE
// naming an OCI image layout tarball (`make e2e` passes `make image`'s),
// the image's own file system, unpacked as a container runtime would and
// run as the cluster runs it: chrooted into that root, as the image's user
// (65532), with its environment. Without root (no chroot) the binaries
// still come from the unpacked image, run from the host's root.
type services struct {
	bin    string
	img    *ociimage.Unpacked
	chroot bool
	uid    uint32
	gid    uint32
}

func servicesFrom(t *testing.T, root, bin, out string) services {
	t.Helper()
	tarball := os.Getenv("E2E_IMAGE")
	if tarball == "" {
		return services{bin: bin}
	}
	if !filepath.IsAbs(tarball) {
		tarball = filepath.Join(root, tarball)
	}
	u, err := ociimage.Unpack(tarball, filepath.Join(out, "image-root"))
	if err != nil {
		t.Fatalf("E2E_IMAGE: %v", err)
	}
	s := services{img: &u, chroot: os.Geteuid() == 0}
	user, group, ok := strings.Cut(u.Config.Config.User, ":")
	uid, err1 := strconv.ParseUint(user, 10, 32)
	gid, err2 := strconv.ParseUint(group, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid == 0 {
		t.Fatalf("image %s: user %q: want a numeric non-root uid:gid", u.Digest, u.Config.Config.User)
	}
	s.uid, s.gid = uint32(uid), uint32(gid)
	return s
}

// command is the binary name of the services with env (after BaseEnv's
// and the image's) and args.
func (s services) command(name string, env []string, args ...string) *exec.Cmd {
	if s.img == nil {
		cmd := exec.Command(filepath.Join(s.bin, name), args...)
		cmd.Env = append(harness.BaseEnv(), env...)
		return cmd
	}
	if !s.chroot {
		cmd := exec.Command(filepath.Join(s.img.Root, ociimage.BinDir, name), args...)
		cmd.Env = append(harness.BaseEnv(), env...)
		return cmd
	}
	// The path is resolved inside the new root.
	cmd := exec.Command("/"+ociimage.BinDir+"/"+name, args...)
	cmd.Dir = "/"
	cmd.Env = append(append(append(harness.BaseEnv(), s.img.Config.Config.Env...), "HOME=/home/nonroot", "TMPDIR=/tmp"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: s.img.Root, Credential: &syscall.Credential{Uid: s.uid, Gid: s.gid}}
	return cmd
}

// String says where the services run from, for the summary.
func (s services) String() string {
	switch {
	case s.img == nil:
		return "built from source into " + s.bin
	case s.chroot:
		return fmt.Sprintf("from image %s: chrooted into its unpacked file system as user %d:%d", s.img.Digest, s.uid, s.gid)
	default:
		return fmt.Sprintf("from image %s: its binaries, unpacked (not chrooted: the test is not root)", s.img.Digest)
	}
}

// verify checks, from /proc, that a running service is what command made
// it: chrooted into the image's root, as the image's user. It says what it
// checked ("" when the services do not come from a chrooted image).
func (s services) verify(t *testing.T, procs ...*harness.Proc) string {
	t.Helper()
	if s.img == nil || !s.chroot {
		return ""
	}
	for _, p := range procs {
		root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", p.Pid()))
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if want, _ := filepath.Abs(s.img.Root); root != want {
			t.Errorf("%s runs with root %s, want the image's %s", p.Name, root, want)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			f := strings.Fields(l)
			if len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
				want := strconv.Itoa(int(s.uid))
				if f[0] == "Gid:" {
					want = strconv.Itoa(int(s.gid))
				}
				for _, id := range f[1:] {
					if id != want {
						t.Errorf("%s: %s, want %s everywhere", p.Name, l, want)
						break
					}
				}
			}
		}
	}
	return fmt.Sprintf("%d services run with the image's root and as %d:%d (/proc/PID/root and status)", len(procs), s.uid, s.gid)
}
