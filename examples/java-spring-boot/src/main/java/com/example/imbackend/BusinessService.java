package com.example.imbackend;

import com.google.protobuf.ByteString;
import im.gateway.v1.ClientMessage;
import im.gateway.v1.ConnectionStatus;
import im.gateway.v1.DubboBusinessMessageServiceTriple;
import im.gateway.v1.HandleMessageResponse;
import im.gateway.v1.ServerMessage;
import im.gateway.v1.StatusAck;
import java.nio.charset.StandardCharsets;
import org.apache.dubbo.config.annotation.DubboService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the gateways call: every client frame with an id arrives here as a {@link ClientMessage}
 * carrying the identity of the connection (never taken from the frame). Code 0 means accepted: the
 * client gets {@code {"type":"ack","id":...,"code":0}}; the replies go to the sending connection.
 * Answer within the gateway's {@code forward.timeoutMs} (5 s by default; ack 2001 after it).
 */
@DubboService
public class BusinessService extends DubboBusinessMessageServiceTriple.BusinessMessageServiceImplBase {

  private static final Logger log = LoggerFactory.getLogger(BusinessService.class);

  @Override
  public HandleMessageResponse handleMessage(ClientMessage msg) {
    // payload: the UTF-8 JSON of the frame's payload
    String payload = msg.getPayload().toStringUtf8();
    log.info("HandleMessage id={} type={} user={} device={} instance={} payload={}",
        msg.getMessageId(), msg.getType(), msg.getUserId(), msg.getDeviceId(),
        msg.getInstanceId(), payload);
    ServerMessage reply = ServerMessage.newBuilder()
        .setType("chat.received")
        .setReplyTo(msg.getMessageId())
        .setPayload(ByteString.copyFrom("{\"echo\":" + payload + "}", StandardCharsets.UTF_8))
        .build();
    return HandleMessageResponse.newBuilder().setCode(0).addReplies(reply).build();
  }

  @Override
  public StatusAck onConnectionStatus(ConnectionStatus status) {
    log.info("OnConnectionStatus {} user={} device={} instance={}",
        status.getEvent(), status.getUserId(), status.getDeviceId(), status.getInstanceId());
    return StatusAck.newBuilder().setSuccess(true).build();
  }
}
