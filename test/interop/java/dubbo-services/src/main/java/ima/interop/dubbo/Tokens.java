package ima.interop.dubbo;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The MUC's own tokens: {@code muc1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>}, the MAC
 * covering {@code muc1.<claims part>}. Claims: uid, did, plt, exp (Unix ms, 0 = never expires).
 * A ttl of 0 issues a token without expiry; a negative ttl issues one that is already expired.
 */
final class Tokens {

  private static final String PREFIX = "muc1.";
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();

  record Claims(String userId, String deviceId, String platform, long expireAt) {}

  private final byte[] secret;

  Tokens(String secret) {
    this.secret = secret.getBytes(StandardCharsets.UTF_8);
  }

  String issue(String userId, String deviceId, String platform, long ttlSec) {
    JsonObject c = new JsonObject();
    c.addProperty("uid", userId);
    c.addProperty("did", deviceId);
    c.addProperty("plt", platform);
    c.addProperty("exp", ttlSec == 0 ? 0 : System.currentTimeMillis() + ttlSec * 1000);
    String signed = PREFIX + B64.encodeToString(c.toString().getBytes(StandardCharsets.UTF_8));
    return signed + "." + B64.encodeToString(mac(signed));
  }

  /** The claims of a well-formed, correctly signed token (expiry not checked), else null. */
  Claims verify(String token) {
    if (token == null || !token.startsWith(PREFIX)) {
      return null;
    }
    int dot = token.lastIndexOf('.');
    if (dot <= PREFIX.length()) {
      return null;
    }
    try {
      byte[] given = B64D.decode(token.substring(dot + 1));
      if (!MessageDigest.isEqual(given, mac(token.substring(0, dot)))) {
        return null;
      }
      String json = new String(B64D.decode(token.substring(PREFIX.length(), dot)), StandardCharsets.UTF_8);
      JsonObject c = JsonParser.parseString(json).getAsJsonObject();
      return new Claims(
          c.get("uid").getAsString(),
          c.get("did").getAsString(),
          c.get("plt").getAsString(),
          c.get("exp").getAsLong());
    } catch (RuntimeException e) {
      return null;
    }
  }

  private byte[] mac(String data) {
    try {
      Mac m = Mac.getInstance("HmacSHA256");
      m.init(new SecretKeySpec(secret, "HmacSHA256"));
      return m.doFinal(data.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
