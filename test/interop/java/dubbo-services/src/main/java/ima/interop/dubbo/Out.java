package ima.interop.dubbo;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * The harness's stdout channel: one compact JSON object (or the READY marker) per line, flushed
 * per line and never interleaved across threads. Libraries that print to System.out are moved to
 * stderr by {@link #install()}.
 */
final class Out {

  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
  /** Default-valued fields included so the harness can assert on zeros/false/empty lists. */
  private static final JsonFormat.Printer PRINTER = JsonFormat.printer().includingDefaultValueFields();

  private static PrintStream stdout;

  private Out() {}

  static synchronized void install() {
    if (stdout == null) {
      stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
      System.setOut(System.err);
    }
  }

  static synchronized void line(String s) {
    stdout.print(s);
    stdout.print('\n');
    stdout.flush();
  }

  static void json(JsonObject o) {
    line(GSON.toJson(o));
  }

  /** proto3 JSON (lowerCamel names, int64 as strings, bytes as base64) as a Gson object. */
  static JsonObject proto(MessageOrBuilder m) {
    try {
      return JsonParser.parseString(PRINTER.print(m)).getAsJsonObject();
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  /** {"<key>":"<value>", ...proto fields}: the marker key first, then the message's fields. */
  static JsonObject tagged(String key, String value, MessageOrBuilder m) {
    return tagged(key, value, proto(m));
  }

  static JsonObject tagged(String key, String value, JsonObject fields) {
    JsonObject o = new JsonObject();
    o.addProperty(key, value);
    for (var e : fields.entrySet()) {
      if (!e.getKey().equals(key)) {
        o.add(e.getKey(), e.getValue());
      }
    }
    return o;
  }

  static JsonObject object(Object... keyValues) {
    JsonObject o = new JsonObject();
    for (int i = 0; i + 1 < keyValues.length; i += 2) {
      o.add((String) keyValues[i], GSON.toJsonTree(keyValues[i + 1]));
    }
    return o;
  }

  static JsonElement tree(Object value) {
    return GSON.toJsonTree(value);
  }
}
