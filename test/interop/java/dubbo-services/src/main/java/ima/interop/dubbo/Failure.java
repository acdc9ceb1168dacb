package ima.interop.dubbo;

import org.apache.dubbo.rpc.RpcException;
import org.apache.dubbo.rpc.StatusRpcException;
import org.apache.dubbo.rpc.TriRpcStatus;

/** A failed call as the harness sees it: gRPC/Triple status name and the most specific message. */
record Failure(String code, String message) {

  static Failure of(Throwable e) {
    // A status from the server (or the Triple client) is the most precise answer.
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof StatusRpcException s) {
        TriRpcStatus st = s.getStatus();
        String msg = st.description != null ? st.description : String.valueOf(s.getMessage());
        return new Failure(st.code.name(), msg);
      }
    }
    // Dubbo reports "No provider available" as FORBIDDEN (which Triple maps to PERMISSION_DENIED);
    // for the harness it is what gRPC calls UNAVAILABLE.
    if (e instanceof RpcException r && (r.isForbidden() || r.isNoInvokerAvailableAfterFilter())) {
      return new Failure("UNAVAILABLE", String.valueOf(e.getMessage()));
    }
    // Otherwise Dubbo's own mapping (timeout -> DEADLINE_EXCEEDED, network -> UNAVAILABLE...).
    TriRpcStatus st = TriRpcStatus.getStatus(e);
    return new Failure(st.code.name(), String.valueOf(e.getMessage()));
  }
}
