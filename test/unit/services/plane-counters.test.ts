/** The service server's counts as the daemon keeps them (services/plane.ts): cumulative reports, folded across restarts. */
import { describe, expect, it } from 'vitest';
import { ServiceCounters } from '../../../src/services/plane.js';

describe('ServiceCounters', () => {
  it('a report replaces the last one (the server sends totals); a restart keeps what was counted', () => {
    const c = new ServiceCounters();
    c.update([['imds', 'web', 3]], { ntp: 1 }, [['answered', 'web', 2]]);
    c.update([['imds', 'web', 5], ['time-sync', 'app', 1]], { ntp: 1 }, [['answered', 'web', 4]]);
    expect(c.requests.get('imds\0web')).toBe(5);
    expect(c.requests.get('time-sync\0app')).toBe(1);
    expect(c.dnsOutcomes.get('answered\0web')).toBe(4);
    c.serverGone();
    // The new server counts from zero again.
    c.update([['imds', 'web', 2]], { ntp: 0 }, [['answered', 'web', 1]]);
    expect(c.requests.get('imds\0web')).toBe(7);
    expect(c.malformed.get('ntp')).toBe(1);
    expect(c.dnsOutcomes.get('answered\0web')).toBe(5);
  });
});
