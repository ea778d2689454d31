import type { CongestionController, CongestionControllerFactory, CongestionControllerOptions } from './controller.js';
import { Ledbat } from './ledbat.js';
import { LedbatPlusPlus } from './ledbat-plus-plus.js';
import { NewReno } from './new-reno.js';

/** Built-in controllers by TransportConfig.congestionController name (cf. aioquic congestion/base.py). */
export type CongestionControllerName = 'ledbat++' | 'ledbat' | 'newreno';

export const CONGESTION_CONTROLLERS: Readonly<Record<CongestionControllerName, CongestionControllerFactory>> = {
  'ledbat++': (options) => new LedbatPlusPlus(options),
  ledbat: (options) => new Ledbat(options),
  newreno: (options) => new NewReno(options),
};

/** The controller a config names (or builds, when it gives a factory). */
export function createCongestionController(
  choice: CongestionControllerName | CongestionControllerFactory,
  options: CongestionControllerOptions,
): CongestionController {
  return typeof choice === 'function' ? choice(options) : CONGESTION_CONTROLLERS[choice](options);
}
