import { loadAppConfig } from '../../config/app.config';
import { securityHeaders } from './http-setup';

const KEYS = 'ops:a-secret-that-is-long-enough-000:admin';

describe(securityHeaders.name, () => {
  it("computes helmet's headers once, with no HSTS and no CSP upgrade on plain HTTP", () => {
    const sut = securityHeaders(loadAppConfig({ ENFORCE_HTTPS: 'false', API_KEYS: KEYS }));
    // The whole set is checked on real responses (test/hardening/proxy-https.e2e-spec.ts).
    expect(sut).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
    });
    expect(sut['content-security-policy']).toContain("default-src 'self'");
    expect(sut['content-security-policy']).not.toContain('upgrade-insecure-requests');
    // Ours, and only on HTTPS responses (installHttpHooks).
    expect(sut).not.toHaveProperty('strict-transport-security');
    expect(Object.isFrozen(sut)).toBe(true);
  });

  it('asks browsers to upgrade to HTTPS when HTTPS is enforced', () => {
    const sut = securityHeaders(
      loadAppConfig({
        ENFORCE_HTTPS: 'true',
        API_KEYS: KEYS,
        PUBLIC_BASE_URL: 'https://switchboard.example.com',
      }),
    );
    expect(sut['content-security-policy']).toContain('upgrade-insecure-requests');
  });
});
