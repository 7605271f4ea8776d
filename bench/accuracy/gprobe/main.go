// gprobe: one Go program, one subcommand per thing that breaks between user space and host.
// Built with Debian's go (CGO_ENABLED=0, static) by bench/accuracy/images.py.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gprobe:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: gprobe exec|copy|stat|chmod|threads"))
	}
	switch os.Args[1] {
	case "exec": // os/exec: fork/exec (and pidfd from Go 1.23 on)
		if err := exec.Command("/bin/sh", "-c", "true").Run(); err != nil {
			fail(err)
		}
	case "copy": // io.Copy between two files (copy_file_range / sendfile from Go 1.15/1.21 on)
		src, err := os.Open("/etc/passwd")
		if err != nil {
			fail(err)
		}
		dst, err := os.Create("/tmp/gprobe-copy")
		if err != nil {
			fail(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			fail(err)
		}
		if err := dst.Close(); err != nil {
			fail(err)
		}
	case "stat":
		if _, err := os.Stat("/etc/passwd"); err != nil {
			fail(err)
		}
		if _, err := os.Lstat("/bin"); err != nil {
			fail(err)
		}
	case "chmod":
		if err := os.WriteFile("/tmp/gprobe-chmod", []byte("x"), 0o644); err != nil {
			fail(err)
		}
		if err := os.Chmod("/tmp/gprobe-chmod", 0o600); err != nil {
			fail(err)
		}
	case "threads": // goroutines blocked in syscalls force new OS threads
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := os.Open("/etc/passwd")
				if err == nil {
					io.Copy(io.Discard, f)
					f.Close()
				}
			}()
		}
		wg.Wait()
	default:
		fail(fmt.Errorf("unknown subcommand %q", os.Args[1]))
	}
}
