/** Helpers shared by test files. */
import type { Host, HostEvent } from 'terrarium-plugins';

/** The next event of that kind for that plugin (a failing test gives up after 15 s). */
export function nextEvent(host: Host, event: HostEvent['event'], plugin: string): Promise<HostEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no "${event}" event for ${plugin} arrived`));
    }, 15_000);
    const off = host.on(event, (e) => {
      if (e.plugin !== plugin) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
