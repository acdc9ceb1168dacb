package ima.interop.dubbo;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import im.gateway.v1.BusinessMessageService;
import im.gateway.v1.IMAGatewayService;
import im.gateway.v1.MUCService;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * One JVM per role, driven by the Node interop harness:
 *
 * <pre>
 * Main muc      --nacos host:port --port P --secret S
 * Main business --nacos host:port --port P [--api-token T] [--timeout-ms 5000]
 * Main consumer --nacos host:port [--api-token T] [--timeout-ms 5000]
 * Main grpc     --target host:port [--api-token T]      (plain grpc-java stubs, no Dubbo, no Nacos)
 * </pre>
 *
 * Registration and discovery use Dubbo's defaults (register-mode "all": interface-level
 * {@code providers:<interface>::} plus application-level instances; consumers migrate
 * APPLICATION_FIRST). stdout: {@code READY} once exported/referenced, then one JSON object per
 * line; logs go to stderr. The process deregisters and exits when stdin closes or on SIGTERM
 * (Dubbo's own shutdown hook), so the harness must keep stdin open while it needs the process.
 */
public final class Main {

  private Main() {}

  public static void main(String[] argv) {
    Out.install();
    try {
      String mode = argv.length > 0 ? argv[0] : "";
      switch (mode) {
        case "muc" -> muc(new Args(argv, "nacos", "port", "secret"));
        case "business" -> business(new Args(argv, "nacos", "port", "api-token", "timeout-ms"));
        case "consumer" -> consumer(new Args(argv, "nacos", "api-token", "timeout-ms"));
        case "grpc" -> grpc(new Args(argv, "target", "api-token"));
        default -> throw new IllegalArgumentException(
            "usage: Main <muc|business|consumer|grpc> --nacos host:port [options]");
      }
    } catch (Throwable e) {
      System.err.println("FAILED: " + e);
      e.printStackTrace(System.err);
      System.err.flush();
      Runtime.getRuntime().halt(1);
    }
  }

  private static void muc(Args a) throws Exception {
    Tokens tokens = new Tokens(a.required("secret"));
    ServiceConfig<MUCService> svc = new ServiceConfig<>();
    svc.setInterface(MUCService.class);
    svc.setRef(new MucProvider(tokens));
    bootstrap("ima-interop-muc", a).protocol(tri(a)).service(svc).start();
    Out.line("READY");
    stdinLoop(line -> {
      JsonObject cmd = JsonParser.parseString(line).getAsJsonObject();
      String name = cmd.has("cmd") ? cmd.get("cmd").getAsString() : "";
      if (!name.equals("issue")) {
        Out.json(Out.object("reply", "error", "error", "unknown cmd: " + name));
        return;
      }
      String token = tokens.issue(
          cmd.get("userId").getAsString(),
          cmd.has("deviceId") ? cmd.get("deviceId").getAsString() : "",
          cmd.has("platform") ? cmd.get("platform").getAsString() : "",
          cmd.has("ttlSec") ? cmd.get("ttlSec").getAsLong() : 0);
      Out.json(Out.object("reply", "issue", "token", token));
    });
    shutdown(null);
  }

  private static void business(Args a) throws Exception {
    ServiceConfig<BusinessMessageService> svc = new ServiceConfig<>();
    svc.setInterface(BusinessMessageService.class);
    svc.setRef(new BusinessProvider(a.optional("api-token", null), a.integer("timeout-ms", 5000)));
    bootstrap("ima-interop-business", a).protocol(tri(a)).service(svc).start();
    Out.line("READY");
    stdinLoop(line -> Out.json(Out.object("reply", "error", "error", "business takes no commands")));
    shutdown(null);
  }

  private static void consumer(Args a) throws Exception {
    int timeoutMs = a.integer("timeout-ms", 5000);
    ReferenceConfig<IMAGatewayService> ref = new ReferenceConfig<>();
    ref.setInterface(IMAGatewayService.class);
    ref.setTimeout(timeoutMs);
    // check stays at Dubbo's default (true): start-up fails if no gateway is registered.
    bootstrap("ima-interop-consumer", a).reference(ref).start();
    GatewayConsumer consumer = new GatewayConsumer(ref, a.optional("api-token", null));
    Out.line("READY");
    stdinLoop(consumer::submit);
    shutdown(() -> consumer.drain(timeoutMs * 3L));
  }

  private static void grpc(Args a) throws Exception {
    try (GrpcClient client = new GrpcClient(a.required("target"), a.optional("api-token", null))) {
      Out.line("READY");
      stdinLoop(client::handle);
    }
    System.exit(0);
  }

  /** Settings every role shares; discovery-related settings are left at Dubbo's defaults. */
  private static DubboBootstrap bootstrap(String application, Args a) {
    ApplicationConfig app = new ApplicationConfig(application);
    // Several JVMs run at once on one host: the QoS port (22222) would clash.
    app.setQosEnable(false);
    app.setLogger("slf4j");
    // No ~/.dubbo metadata/mapping caches: runs must not see state from earlier runs.
    app.setEnableFileCache(false);
    RegistryConfig registry = new RegistryConfig("nacos://" + a.required("nacos"));
    // Same for the registry's ~/.dubbo/dubbo-registry-*.cache (also avoids lock contention
    // between processes of the same application).
    registry.setParameters(Map.of("file-cache", "false"));
    return DubboBootstrap.getInstance().application(app).registry(registry);
  }

  /**
   * Triple on the given port. No host is set on purpose: Dubbo 3.3 treats any 127.x host (also
   * via DUBBO_IP_TO_BIND / DUBBO_IP_TO_REGISTRY, which it rejects outright) as "not configured",
   * binds 0.0.0.0 and registers the machine's first non-loopback IPv4 address. To choose that
   * address, pass -Ddubbo.network.interface.preferred=<nic> or -DDUBBO_IP_TO_REGISTRY=<ip>.
   */
  private static ProtocolConfig tri(Args a) {
    return new ProtocolConfig("tri", Integer.parseInt(a.required("port")));
  }

  private interface LineHandler {
    void accept(String line) throws Exception;
  }

  private interface Drain {
    void run() throws Exception;
  }

  /** Handles stdin lines until EOF; a bad line is reported, never fatal. */
  private static void stdinLoop(LineHandler handler) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isBlank()) {
        continue;
      }
      try {
        handler.accept(line.trim());
      } catch (Exception e) {
        Out.json(Out.object("reply", "error", "error", String.valueOf(e)));
      }
    }
  }

  /** stdin closed: finish in-flight work, deregister (DubboBootstrap stop) and exit 0. */
  private static void shutdown(Drain drain) throws Exception {
    if (drain != null) {
      drain.run();
    }
    DubboBootstrap.getInstance().stop();
    System.exit(0);
  }
}
