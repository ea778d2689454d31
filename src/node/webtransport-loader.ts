/**
 * Loads @fails-components/webtransport (the WebTransport library of both the rendezvous client and
 * the server) once, and finds out whether its optional native HTTP/3 add-on is there.
 */

let loading: Promise<{ module: unknown; http3: boolean }> | null = null;

/**
 * Imports @fails-components/webtransport once. Without its optional native HTTP/3 add-on the library
 * reports the failed load with console.error/console.log (a stack trace on stdout) at import time;
 * we probe for the add-on ourselves (`http3`) and drop exactly those three notices so a server's
 * stdout stays JSON lines. Everything else printed passes through unchanged.
 */
export function loadWebTransport(): Promise<{ module: unknown; http3: boolean }> {
  loading ??= (async () => {
    let http3 = false;
    try {
      const addon = '@fails-components/webtransport-transport-http3-quiche';
      await import(addon);
      http3 = true;
    } catch {
      const notice =
        /^(http3 loader:|Problem loading http3-quiche transport|Did you install @fails-components\/webtransport-transport-http3-quiche)/;
      for (const method of ['log', 'error'] as const) {
        const original = console[method].bind(console);
        console[method] = (...args: unknown[]): void => {
          if (typeof args[0] === 'string' && notice.test(args[0])) return;
          original(...args);
        };
      }
    }
    return { module: await import('@fails-components/webtransport'), http3 };
  })();
  return loading;
}
