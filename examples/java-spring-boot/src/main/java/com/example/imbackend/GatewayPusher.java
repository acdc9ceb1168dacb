package com.example.imbackend;

import com.google.protobuf.ByteString;
import im.gateway.v1.IMAGatewayService;
import im.gateway.v1.PushRequest;
import im.gateway.v1.PushResponse;
import im.gateway.v1.ServerMessage;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.apache.dubbo.config.annotation.DubboReference;
import org.apache.dubbo.rpc.RpcContext;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Service;

/** Pushes to users through whichever gateway Nacos lists; any instance reaches every device. */
@Service
public class GatewayPusher {

  // retries = 0: Dubbo's default (2) would send a push that timed out again, to another gateway,
  // after the first may have delivered it: the user would get it twice.
  // check = false: start even when no gateway is registered yet (calls fail until one is).
  @DubboReference(protocol = "tri", retries = 0, timeout = 3000, check = false)
  private IMAGatewayService gateway;

  @Value("${ima.api-token:}")
  private String apiToken;

  /** Writes a push frame {"type":type,"id":...,"payload":json} to every connection of userId. */
  public PushResponse pushToUser(String userId, String type, String json) {
    if (!apiToken.isEmpty()) {
      // the gateways' server.apiToken as gRPC metadata: set before each call, in the calling thread
      RpcContext.getClientAttachment().setAttachment("authorization", "Bearer " + apiToken);
    }
    return gateway.pushToUser(PushRequest.newBuilder()
        .setUserId(userId)
        .setMessage(ServerMessage.newBuilder()
            .setMessageId(UUID.randomUUID().toString()) // lets clients drop a duplicate
            .setType(type)
            .setPayload(ByteString.copyFrom(json, StandardCharsets.UTF_8)))
        .build());
  }
}
