package ima.interop.dubbo;

import com.google.gson.JsonObject;
import im.gateway.v1.DubboMUCServiceTriple;
import im.gateway.v1.TokenValidateRequest;
import im.gateway.v1.TokenValidateResponse;

/** MUCService: validates the tokens this process issued (see {@link Tokens}). */
final class MucProvider extends DubboMUCServiceTriple.MUCServiceImplBase {

  /** Codes the gateway passes on as close codes (its CloseCode.AUTH_FAILED / TOKEN_EXPIRED). */
  static final int AUTH_FAILED = 4401;
  static final int TOKEN_EXPIRED = 4003;

  /** The answer plus the user the token named, if any (reported in the event, not the answer). */
  private record Outcome(TokenValidateResponse response, String tokenUserId) {}

  private final Tokens tokens;

  MucProvider(Tokens tokens) {
    this.tokens = tokens;
  }

  @Override
  public TokenValidateResponse validateToken(TokenValidateRequest req) {
    Outcome o = check(req);
    JsonObject ev = new JsonObject();
    ev.addProperty("event", "validate");
    ev.addProperty("userId", o.tokenUserId());
    ev.addProperty("valid", o.response().getValid());
    ev.addProperty("deviceId", req.getDeviceId());
    ev.addProperty("instanceId", req.getInstanceId());
    if (!o.response().getValid()) {
      ev.addProperty("reason", o.response().getMessage());
    }
    Out.json(ev);
    return o.response();
  }

  private Outcome check(TokenValidateRequest req) {
    Tokens.Claims c = tokens.verify(req.getToken());
    if (c == null) {
      return invalid(AUTH_FAILED, "invalid token", "");
    }
    if (c.expireAt() != 0 && c.expireAt() <= System.currentTimeMillis()) {
      return invalid(TOKEN_EXPIRED, "token expired", c.userId());
    }
    // The request's device/platform are compared only when the gateway sends them.
    if (!req.getDeviceId().isEmpty() && !req.getDeviceId().equals(c.deviceId())) {
      return invalid(AUTH_FAILED, "device mismatch", c.userId());
    }
    if (!req.getPlatform().isEmpty() && !req.getPlatform().equals(c.platform())) {
      return invalid(AUTH_FAILED, "platform mismatch", c.userId());
    }
    TokenValidateResponse ok = TokenValidateResponse.newBuilder()
        .setValid(true)
        .setUserId(c.userId())
        .setDeviceId(c.deviceId())
        .setPlatform(c.platform())
        .setExpireAt(c.expireAt())
        .build();
    return new Outcome(ok, c.userId());
  }

  private static Outcome invalid(int code, String message, String tokenUserId) {
    TokenValidateResponse res = TokenValidateResponse.newBuilder()
        .setValid(false)
        .setCode(code)
        .setMessage(message)
        .build();
    return new Outcome(res, tokenUserId);
  }
}
