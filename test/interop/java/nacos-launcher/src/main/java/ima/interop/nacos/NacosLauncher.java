package ima.interop.nacos;

import com.alibaba.nacos.NacosServerBasicApplication;
import com.alibaba.nacos.NacosServerWebApplication;
import com.alibaba.nacos.core.listener.startup.NacosStartUp;
import com.alibaba.nacos.core.listener.startup.NacosStartUpManager;
import com.alibaba.nacos.sys.env.DeploymentType;
import com.alibaba.nacos.sys.env.EnvUtil;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Starts a standalone Nacos 3 server (deployment type SERVER, no console) the way Nacos's own
 * bootstrap module does, which is not published on Maven Central.
 *
 * <pre>
 * java -Xms128m -Xmx512m --add-opens java.base/java.lang=ALL-UNNAMED \
 *   -cp target/classes:target/lib/* ima.interop.nacos.NacosLauncher --port 18848 --home /tmp/nacos-home
 * </pre>
 *
 * The heap flags keep two-core CI machines responsive; the add-opens is needed by Nacos's
 * reflection on java.lang (as in Nacos's own startup script).
 *
 * <p>Ports: {@code --port} is the HTTP main port (context path /nacos). Nacos derives the others
 * from it: main+1000 client gRPC (what SDKs connect to), main+1001 cluster gRPC, main-1000 JRaft
 * (used even in standalone for persistent instances). All four must be free.
 *
 * <p>stdout carries exactly one line, {@code NACOS READY port=<main port>}, once both contexts are
 * up; Spring and Nacos console output go to stderr, file logs and data go under {@code --home}.
 * Any start-up failure is printed to stderr and exits with status 1.
 */
public final class NacosLauncher {

  private NacosLauncher() {}

  public static void main(String[] args) {
    // Keep stdout for the single readiness line the harness waits for.
    PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    try {
      int port = 8848;
      String home = null;
      for (int i = 0; i < args.length; i++) {
        switch (args[i]) {
          case "--port" -> port = Integer.parseInt(value(args, ++i, "--port"));
          case "--home" -> home = value(args, ++i, "--home");
          default -> throw new IllegalArgumentException("unknown argument: " + args[i]);
        }
      }
      if (home == null) {
        throw new IllegalArgumentException("--home <dir> is required");
      }
      File homeDir = new File(home).getAbsoluteFile();
      if (!homeDir.isDirectory() && !homeDir.mkdirs()) {
        throw new IllegalStateException("cannot create " + homeDir);
      }

      // Must be set before any Nacos class reads its environment.
      System.setProperty("nacos.standalone", "true");
      System.setProperty("nacos.home", homeDir.getPath());
      // Read by application.properties (nacos.server.main.port=${ima.nacos.port}).
      System.setProperty("ima.nacos.port", Integer.toString(port));
      // Embedded Derby would otherwise write derby.log into the working directory.
      System.setProperty("derby.stream.error.file", new File(homeDir, "derby.log").getPath());

      EnvUtil.setDeploymentType(DeploymentType.SERVER);
      NacosStartUpManager.start(NacosStartUp.CORE_START_UP_PHASE);
      ConfigurableApplicationContext core =
          new SpringApplicationBuilder(NacosServerBasicApplication.class)
              .web(WebApplicationType.NONE)
              .run();
      NacosStartUpManager.start(NacosStartUp.WEB_START_UP_PHASE);
      new SpringApplicationBuilder(NacosServerWebApplication.class).parent(core).run();

      stdout.println("NACOS READY port=" + port);
      // Spring's non-daemon server threads keep the JVM alive from here on.
    } catch (Throwable e) {
      System.err.println("NACOS FAILED: " + rootCause(e));
      e.printStackTrace(System.err);
      System.err.flush();
      Runtime.getRuntime().halt(1);
    }
  }

  private static String value(String[] args, int i, String name) {
    if (i >= args.length) {
      throw new IllegalArgumentException(name + " needs a value");
    }
    return args[i];
  }

  private static String rootCause(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t == e ? e.toString() : e + " (cause: " + t + ")";
  }
}
