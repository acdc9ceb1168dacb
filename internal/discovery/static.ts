import type { DependencyState } from '../observability/readiness';
import type { Registry, SelfRegistration, ServiceRef } from './types';

/**
 * Fixed provider addresses from configuration (`client.*.address`); publishes nothing. The list
 * is delivered once, synchronously, and never changes.
 */
export class StaticRegistry implements Registry {
  readonly kind = 'static';
  readonly lastError = '';

  constructor(private readonly addresses: ReadonlyMap<string, readonly string[]>) {}

  register(_self: SelfRegistration): Promise<void> {
    return Promise.resolve();
  }

  deregister(): Promise<void> {
    return Promise.resolve();
  }

  watch(service: ServiceRef, onChange: (addresses: readonly string[]) => void): () => void {
    onChange(this.addresses.get(service.interfaceName) ?? []);
    return () => undefined;
  }

  registrationState(): DependencyState {
    return 'not configured';
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
