package com.example.imbackend;

import im.gateway.v1.PushResponse;
import java.util.Map;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /users/{userId}/push?type=notice} with a JSON body: the body becomes the payload of
 * the push frame. Answers {"delivered":N,"offlineUserIds":[...]}.
 */
@RestController
public class PushController {

  private final GatewayPusher pusher;

  public PushController(GatewayPusher pusher) {
    this.pusher = pusher;
  }

  @PostMapping(path = "/users/{userId}/push", consumes = "application/json")
  public Map<String, Object> push(@PathVariable String userId,
      @RequestParam(defaultValue = "notice") String type, @RequestBody String json) {
    PushResponse r = pusher.pushToUser(userId, type, json);
    return Map.of("delivered", r.getDelivered(), "offlineUserIds", r.getOfflineUserIdsList());
  }
}
