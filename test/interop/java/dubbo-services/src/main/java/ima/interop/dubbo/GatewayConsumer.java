package ima.interop.dubbo;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import im.gateway.v1.BroadcastRequest;
import im.gateway.v1.ConnectionStatusRequest;
import im.gateway.v1.IMAGatewayService;
import im.gateway.v1.KickUserRequest;
import im.gateway.v1.PushRequest;
import im.gateway.v1.RoomMembershipRequest;
import im.gateway.v1.RoomPushRequest;
import im.gateway.v1.RoomStatusRequest;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.registry.client.migration.MigrationInvoker;
import org.apache.dubbo.rpc.Invoker;
import org.apache.dubbo.rpc.RpcContext;
import org.apache.dubbo.rpc.cluster.ClusterInvoker;

/**
 * Calls the gateway's IMAGatewayService for each stdin request line and answers on stdout.
 *
 * <pre>
 * in : {"id":1,"method":"PushToUser","request":{...proto3 JSON...}}
 * out: {"id":1,"ok":true,"provider":"127.0.0.1:9090","response":{...}}
 *      {"id":1,"ok":false,"error":"...","code":"UNAVAILABLE"}
 * in : {"id":1,"method":"GetConnectionStatus","request":{...},"apiToken":"other"} (this call's
 *      bearer token instead of --api-token; "" sends none)
 * in : {"id":2,"method":"JoinRoom","request":{"room":"r1","userIds":["alice"]}} (also LeaveRoom,
 *      PushToRoom, GetRoomStatus, PushToUsers, Broadcast, KickUser, GetConnectionStatus)
 * in : {"id":3,"method":"providers"}
 * out: {"id":3,"ok":true,"providers":[...],"migrationStep":"APPLICATION_FIRST",...}
 * </pre>
 *
 * Requests run concurrently (a small pool); each id is answered exactly once.
 */
final class GatewayConsumer {

  private interface Call {
    Message invoke(IMAGatewayService gw, JsonObject request) throws Exception;
  }

  private final ReferenceConfig<IMAGatewayService> ref;
  private final IMAGatewayService gateway;
  private final String apiToken;
  private final ExecutorService pool = Executors.newFixedThreadPool(8, r -> {
    Thread t = new Thread(r, "request");
    t.setDaemon(true);
    return t;
  });

  GatewayConsumer(ReferenceConfig<IMAGatewayService> ref, String apiToken) {
    this.ref = ref;
    this.gateway = ref.get();
    this.apiToken = apiToken;
  }

  /** Parses one stdin line and answers it, asynchronously. */
  void submit(String line) {
    JsonElement id = JsonNull.INSTANCE;
    try {
      JsonObject req = JsonParser.parseString(line).getAsJsonObject();
      id = req.has("id") ? req.get("id") : JsonNull.INSTANCE;
      String method = req.get("method").getAsString();
      JsonObject request = req.has("request") ? req.getAsJsonObject("request") : new JsonObject();
      String token = req.has("apiToken") ? req.get("apiToken").getAsString() : apiToken;
      JsonElement rid = id;
      pool.execute(() -> Out.json(handle(rid, method, request, token)));
    } catch (RuntimeException e) {
      Out.json(error(id, "bad request line: " + e, "INVALID_ARGUMENT"));
    }
  }

  /** Waits for in-flight requests before the process stops. */
  void drain(long timeoutMs) throws InterruptedException {
    pool.shutdown();
    pool.awaitTermination(timeoutMs, TimeUnit.MILLISECONDS);
  }

  private JsonObject handle(JsonElement id, String method, JsonObject request, String token) {
    if (method.equals("providers")) {
      return providers(id);
    }
    Call call = switch (method) {
      case "PushToUser" -> (gw, r) -> gw.pushToUser(parse(r, PushRequest.newBuilder()));
      case "PushToUsers" -> (gw, r) -> gw.pushToUsers(parse(r, PushRequest.newBuilder()));
      case "Broadcast" -> (gw, r) -> gw.broadcast(parse(r, BroadcastRequest.newBuilder()));
      case "KickUser" -> (gw, r) -> gw.kickUser(parse(r, KickUserRequest.newBuilder()));
      case "GetConnectionStatus" ->
          (gw, r) -> gw.getConnectionStatus(parse(r, ConnectionStatusRequest.newBuilder()));
      case "JoinRoom" -> (gw, r) -> gw.joinRoom(parse(r, RoomMembershipRequest.newBuilder()));
      case "LeaveRoom" -> (gw, r) -> gw.leaveRoom(parse(r, RoomMembershipRequest.newBuilder()));
      case "PushToRoom" -> (gw, r) -> gw.pushToRoom(parse(r, RoomPushRequest.newBuilder()));
      case "GetRoomStatus" ->
          (gw, r) -> gw.getRoomStatus(parse(r, RoomStatusRequest.newBuilder()));
      default -> null;
    };
    if (call == null) {
      return error(id, "unknown method: " + method, "UNIMPLEMENTED");
    }
    ProviderAddressFilter.takeLast();
    try {
      if (token != null && !token.isEmpty()) {
        RpcContext.getClientAttachment().setAttachment("authorization", "Bearer " + token);
      } else {
        RpcContext.getClientAttachment().removeAttachment("authorization");
      }
      Message res = call.invoke(gateway, request);
      JsonObject out = new JsonObject();
      out.add("id", id);
      out.addProperty("ok", true);
      out.addProperty("provider", ProviderAddressFilter.takeLast());
      out.add("response", Out.proto(res));
      return out;
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      return error(id, "bad request JSON: " + e.getMessage(), "INVALID_ARGUMENT");
    } catch (Exception e) {
      Failure f = Failure.of(e);
      JsonObject out = error(id, f.message(), f.code());
      // The provider of the last attempt (Dubbo retries other providers before failing), if any.
      String provider = ProviderAddressFilter.takeLast();
      if (provider != null) {
        out.addProperty("provider", provider);
      }
      return out;
    }
  }

  @SuppressWarnings("unchecked")
  private static <T extends Message> T parse(JsonObject json, Message.Builder b) throws Exception {
    JsonFormat.parser().merge(json.toString(), b);
    return (T) b.build();
  }

  private static JsonObject error(JsonElement id, String message, String code) {
    JsonObject out = new JsonObject();
    out.add("id", id);
    out.addProperty("ok", false);
    out.addProperty("error", message);
    out.addProperty("code", code);
    return out;
  }

  /**
   * What Dubbo currently sees: the invokers of the path in use ("providers") and, separately, of
   * interface-level and application-level discovery (Dubbo's default APPLICATION_FIRST migration
   * keeps both and picks one).
   */
  private JsonObject providers(JsonElement id) {
    JsonObject out = new JsonObject();
    out.add("id", id);
    try {
      MigrationInvoker<?> m = findMigrationInvoker(ref.getInvoker());
      out.addProperty("ok", true);
      if (m == null) {
        out.add("providers", addresses(ref.getInvoker()));
        return out;
      }
      ClusterInvoker<?> current = m.getCurrentAvailableInvoker();
      out.add("providers", addresses(current));
      out.add("availableProviders", availableAddresses(current));
      out.addProperty("migrationStep", String.valueOf(m.getMigrationStep()));
      out.addProperty("using", current == null ? "none"
          : current == m.getServiceDiscoveryInvoker() ? "application" : "interface");
      out.add("interfaceLevel", addresses(m.getInvoker()));
      out.add("applicationLevel", addresses(m.getServiceDiscoveryInvoker()));
    } catch (RuntimeException e) {
      return error(id, "cannot inspect invokers: " + e, "INTERNAL");
    }
    return out;
  }

  /** Every provider in the directory (as registered, reachable or not). */
  private static JsonArray addresses(Invoker<?> invoker) {
    return collect(invoker, false);
  }

  /** Those whose connection Dubbo currently considers usable. */
  private static JsonArray availableAddresses(Invoker<?> invoker) {
    return collect(invoker, true);
  }

  private static JsonArray collect(Invoker<?> invoker, boolean availableOnly) {
    JsonArray a = new JsonArray();
    if (invoker instanceof ClusterInvoker<?> c && c.getDirectory() != null) {
      List<? extends Invoker<?>> all = c.getDirectory().getAllInvokers();
      if (all != null) {
        all.stream()
            .filter(i -> !availableOnly || i.isAvailable())
            .map(i -> i.getUrl().getAddress())
            .distinct()
            .sorted()
            .forEach(a::add);
      }
    }
    return a;
  }

  /** Unwraps Dubbo's cluster wrappers (scope, mock) down to the MigrationInvoker. */
  private static MigrationInvoker<?> findMigrationInvoker(Invoker<?> invoker) {
    Object cur = invoker;
    for (int depth = 0; cur != null && depth < 8; depth++) {
      if (cur instanceof MigrationInvoker<?> m) {
        return m;
      }
      cur = inner(cur);
    }
    return null;
  }

  private static Object inner(Object wrapper) {
    try {
      Method g = wrapper.getClass().getMethod("getInvoker");
      if (Invoker.class.isAssignableFrom(g.getReturnType())) {
        return g.invoke(wrapper);
      }
    } catch (ReflectiveOperationException ignored) {
      // try the field below
    }
    for (Class<?> c = wrapper.getClass(); c != null; c = c.getSuperclass()) {
      try {
        Field f = c.getDeclaredField("invoker");
        f.setAccessible(true);
        return f.get(wrapper);
      } catch (ReflectiveOperationException ignored) {
        // keep looking in superclasses
      }
    }
    return null;
  }
}
