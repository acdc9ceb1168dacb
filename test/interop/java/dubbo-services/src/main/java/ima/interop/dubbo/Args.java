package ima.interop.dubbo;

import java.util.HashMap;
import java.util.Map;

/** {@code <mode> --key value ...}; unknown keys are rejected so harness typos fail loudly. */
final class Args {

  final String mode;
  private final Map<String, String> values = new HashMap<>();

  Args(String[] argv, String... allowed) {
    if (argv.length == 0) {
      throw new IllegalArgumentException("usage: Main <muc|business|consumer|grpc> [--option value]...");
    }
    mode = argv[0];
    for (int i = 1; i < argv.length; i++) {
      String k = argv[i];
      if (!k.startsWith("--") || i + 1 >= argv.length) {
        throw new IllegalArgumentException("expected --option value at: " + k);
      }
      values.put(k.substring(2), argv[++i]);
    }
    for (String k : values.keySet()) {
      if (!java.util.List.of(allowed).contains(k)) {
        throw new IllegalArgumentException("unknown option for " + mode + ": --" + k);
      }
    }
  }

  String required(String key) {
    String v = values.get(key);
    if (v == null || v.isEmpty()) {
      throw new IllegalArgumentException("--" + key + " is required for " + mode);
    }
    return v;
  }

  String optional(String key, String dflt) {
    String v = values.get(key);
    return v == null || v.isEmpty() ? dflt : v;
  }

  int integer(String key, int dflt) {
    String v = values.get(key);
    return v == null ? dflt : Integer.parseInt(v);
  }
}
