package ima.interop.dubbo;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import im.gateway.v1.ClientMessage;
import im.gateway.v1.ConnectionStatus;
import im.gateway.v1.DubboBusinessMessageServiceTriple;
import im.gateway.v1.HandleMessageResponse;
import im.gateway.v1.IMAGatewayService;
import im.gateway.v1.PushRequest;
import im.gateway.v1.PushResponse;
import im.gateway.v1.ServerMessage;
import im.gateway.v1.StatusAck;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.rpc.RpcContext;

/**
 * BusinessMessageService: reports every call on stdout and acts on two payload prefixes,
 * {@code echo:<rest>} (reply to the sender) and {@code pushback:<rest>} (PushToUser to the
 * sender through the gateway's IMAGatewayService, discovered via Nacos).
 *
 * <p>The gateway forwards a frame's payload as UTF-8 JSON, so a client sending
 * {@code "payload":"echo:hi"} arrives as the bytes {@code "echo:hi"} (with quotes): such a JSON
 * string is unwrapped before matching and {@code rest} is sent back as a JSON string, so the client
 * sees {@code "hi"}. Any other payload is matched as raw UTF-8 and {@code rest} is sent as raw bytes.
 */
final class BusinessProvider extends DubboBusinessMessageServiceTriple.BusinessMessageServiceImplBase {

  private static final String ECHO = "echo:";
  private static final String PUSHBACK = "pushback:";

  /** The payload as text, and whether it was a JSON string literal that we unwrapped. */
  private record Payload(String text, boolean jsonString) {
    ByteString encode(String s) {
      return ByteString.copyFromUtf8(jsonString ? Out.tree(s).toString() : s);
    }
  }

  private final String apiToken;
  private final int timeoutMs;
  /** Pushbacks run off the RPC thread (the first one waits for discovery) and in arrival order. */
  private final ExecutorService pushbacks = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "pushback");
    t.setDaemon(true);
    return t;
  });
  private IMAGatewayService gateway;

  BusinessProvider(String apiToken, int timeoutMs) {
    this.apiToken = apiToken;
    this.timeoutMs = timeoutMs;
  }

  @Override
  public HandleMessageResponse handleMessage(ClientMessage msg) {
    JsonObject ev = Out.tagged("event", "message", msg);
    ev.addProperty("payloadText", msg.getPayload().toStringUtf8());
    Out.json(ev);

    HandleMessageResponse.Builder res = HandleMessageResponse.newBuilder().setCode(0);
    Payload p = payload(msg.getPayload());
    if (p.text().startsWith(ECHO)) {
      String rest = p.text().substring(ECHO.length());
      res.addReplies(ServerMessage.newBuilder()
          .setMessageId("echo-" + UUID.randomUUID())
          .setType(msg.getType())
          .setPayload(p.encode(rest))
          .setTimestamp(System.currentTimeMillis())
          .setReplyTo(msg.getMessageId()));
    } else if (p.text().startsWith(PUSHBACK)) {
      String rest = p.text().substring(PUSHBACK.length());
      PushRequest push = PushRequest.newBuilder()
          .setUserId(msg.getUserId())
          .setMessage(ServerMessage.newBuilder()
              .setMessageId("pushback-" + UUID.randomUUID())
              .setType("pushback")
              .setPayload(p.encode(rest))
              .setTimestamp(System.currentTimeMillis()))
          .build();
      pushbacks.execute(() -> pushBack(push));
    }
    return res.build();
  }

  /**
   * ConnectionStatus has its own {@code event} field, which would collide with our marker key:
   * it is reported as {@code connectionEvent}.
   */
  @Override
  public StatusAck onConnectionStatus(ConnectionStatus status) {
    JsonObject fields = Out.proto(status);
    JsonObject ev = Out.tagged("event", "status", fields);
    ev.add("connectionEvent", fields.get("event"));
    Out.json(ev);
    return StatusAck.newBuilder().setSuccess(true).build();
  }

  private void pushBack(PushRequest push) {
    try {
      IMAGatewayService gw = gateway();
      if (apiToken != null) {
        RpcContext.getClientAttachment().setAttachment("authorization", "Bearer " + apiToken);
      }
      ProviderAddressFilter.takeLast();
      PushResponse r = gw.pushToUser(push);
      Out.json(Out.object("event", "pushback", "delivered", r.getDelivered(),
          "provider", ProviderAddressFilter.takeLast()));
    } catch (RuntimeException e) {
      Failure f = Failure.of(e);
      Out.json(Out.object("event", "pushback", "error", f.message(), "code", f.code()));
    }
  }

  /** Created on first use and without a provider check: the gateway may register after us. */
  private synchronized IMAGatewayService gateway() {
    if (gateway == null) {
      ReferenceConfig<IMAGatewayService> ref = new ReferenceConfig<>();
      ref.setInterface(IMAGatewayService.class);
      ref.setCheck(false);
      ref.setTimeout(timeoutMs);
      gateway = ref.get();
    }
    return gateway;
  }

  private static Payload payload(ByteString bytes) {
    String text = bytes.toString(StandardCharsets.UTF_8);
    if (text.startsWith("\"")) {
      try {
        JsonElement e = JsonParser.parseString(text);
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) {
          return new Payload(e.getAsString(), true);
        }
      } catch (RuntimeException ignored) {
        // not JSON: fall through to raw text
      }
    }
    return new Payload(text, false);
  }
}
