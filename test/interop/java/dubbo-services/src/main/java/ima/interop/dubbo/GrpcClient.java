package ima.interop.dubbo;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import im.gateway.v1.ConnectionStatusRequest;
import im.gateway.v1.IMAGatewayServiceGrpc;
import im.gateway.v1.PushRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.util.concurrent.TimeUnit;

/**
 * The plain grpc-java stubs of ima-gateway-api (IMAGatewayServiceGrpc, no Dubbo involved) against
 * one gateway address, one stdin request line at a time:
 *
 * <pre>
 * in : {"id":1,"method":"PushToUser","request":{...proto3 JSON...}}   (or GetConnectionStatus)
 * out: {"id":1,"ok":true,"response":{...}}  |  {"id":1,"ok":false,"code":"UNAUTHENTICATED",...}
 * </pre>
 */
final class GrpcClient implements AutoCloseable {

  private final ManagedChannel channel;
  private final IMAGatewayServiceGrpc.IMAGatewayServiceBlockingStub stub;

  GrpcClient(String target, String apiToken) {
    channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    IMAGatewayServiceGrpc.IMAGatewayServiceBlockingStub s = IMAGatewayServiceGrpc.newBlockingStub(channel);
    if (apiToken != null && !apiToken.isEmpty()) {
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiToken);
      s = s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    stub = s;
  }

  void handle(String line) throws Exception {
    JsonObject req = JsonParser.parseString(line).getAsJsonObject();
    JsonElement id = req.has("id") ? req.get("id") : JsonNull.INSTANCE;
    String method = req.get("method").getAsString();
    String request = req.has("request") ? req.getAsJsonObject("request").toString() : "{}";
    JsonObject out = new JsonObject();
    out.add("id", id);
    try {
      IMAGatewayServiceGrpc.IMAGatewayServiceBlockingStub s = stub.withDeadlineAfter(5, TimeUnit.SECONDS);
      Message res = switch (method) {
        case "PushToUser" -> s.pushToUser(parse(request, PushRequest.newBuilder()));
        case "GetConnectionStatus" ->
            s.getConnectionStatus(parse(request, ConnectionStatusRequest.newBuilder()));
        default -> throw new IllegalArgumentException("unknown method: " + method);
      };
      out.addProperty("ok", true);
      out.add("response", Out.proto(res));
    } catch (StatusRuntimeException e) {
      out.addProperty("ok", false);
      out.addProperty("code", e.getStatus().getCode().name());
      out.addProperty("error", String.valueOf(e.getStatus().getDescription()));
    }
    Out.json(out);
  }

  @SuppressWarnings("unchecked")
  private static <T extends Message> T parse(String json, Message.Builder b) throws Exception {
    JsonFormat.parser().merge(json, b);
    return (T) b.build();
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }
}
