package ima.interop.dubbo;

import org.apache.dubbo.common.constants.CommonConstants;
import org.apache.dubbo.common.extension.Activate;
import org.apache.dubbo.rpc.Filter;
import org.apache.dubbo.rpc.Invocation;
import org.apache.dubbo.rpc.Invoker;
import org.apache.dubbo.rpc.Result;
import org.apache.dubbo.rpc.RpcException;

/**
 * Remembers, per calling thread, which provider the cluster picked for the last attempt, so the
 * consumer can report it (the harness uses it to prove failover). RpcContext's remote address is
 * not filled in for Triple stub calls, hence this consumer filter, registered in
 * META-INF/dubbo/org.apache.dubbo.rpc.Filter. It runs per attempt, after load balancing, on the
 * caller's thread.
 */
@Activate(group = CommonConstants.CONSUMER)
public class ProviderAddressFilter implements Filter {

  private static final ThreadLocal<String> LAST = new ThreadLocal<>();

  /** host:port of the provider of this thread's last attempted call, or null; clears it. */
  static String takeLast() {
    String a = LAST.get();
    LAST.remove();
    return a;
  }

  @Override
  public Result invoke(Invoker<?> invoker, Invocation invocation) throws RpcException {
    LAST.set(invoker.getUrl().getAddress());
    return invoker.invoke(invocation);
  }
}
