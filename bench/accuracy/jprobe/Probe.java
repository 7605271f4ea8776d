// jprobe: one Java program, one subcommand per thing that breaks between user space and host.
// Compiled with this machine's javac (--release 11) by bench/accuracy/images.py.
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

public class Probe {
    public static void main(String[] args) throws Exception {
        switch (args.length > 0 ? args[0] : "") {
            case "exec": { // ProcessBuilder: jspawnhelper through posix_spawn (JDK 12+)
                int rc = new ProcessBuilder("/bin/true").inheritIO().start().waitFor();
                if (rc != 0) throw new IllegalStateException("exit " + rc);
                break;
            }
            case "threads": {
                Thread t = new Thread(() -> {});
                t.start();
                t.join();
                break;
            }
            case "copy":
                Files.copy(Path.of("/etc/passwd"), Path.of("/tmp/jprobe-copy"),
                        StandardCopyOption.REPLACE_EXISTING);
                break;
            case "stat":
                Files.readAttributes(Path.of("/etc/passwd"), "posix:*");
                if (!Files.isExecutable(Path.of("/bin/sh"))) throw new IllegalStateException("-x");
                break;
            case "chmod": {
                Path p = Path.of("/tmp/jprobe-chmod");
                Files.write(p, new byte[] {1});
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
                break;
            }
            default:
                throw new IllegalArgumentException("usage: Probe exec|threads|copy|stat|chmod");
        }
    }
}
