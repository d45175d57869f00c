import t from 'tap';
import { IAMClient } from '@aws-sdk/client-iam';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { roleSettings } from '../../src/config/settings.js';
import type { IamPolicySettings } from '../../src/core/iam-policy.js';
import {
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto as startMotoServer,
  type Moto,
  type StartMotoOptions,
} from '../../tools/dev/moto.js';
import { ADMIN_ACCESS_KEY, startIamRecorder, type IamRecorder } from './iam-recorder.js';
import { ISSUER, REQUIRED_ENV } from './settings.js';

// One moto starter for tests, `npm run dev` and the benchmarks.
export { FAKE_CREDENTIALS, MOTO_ACCOUNT_ID, MOTO_REGION, type Moto } from '../../tools/dev/moto.js';
export { judgedCredentials } from './iam-recorder.js';

/** The test's own key: what it arranges and reads back in IAM is not the webhook's doing. */
const ADMIN_CREDENTIALS = { accessKeyId: ADMIN_ACCESS_KEY, secretAccessKey: 'testing' };

export interface TestMoto extends Moto {
  /** moto without the recorder in front, for a test that must not be recorded. */
  direct: Moto;
  /** The recorder in front of moto (`endpoint` and `port` are its address). */
  recorder: IamRecorder;
}

/**
 * moto's server behind the IAM recorder (test/helpers/iam-recorder.ts). Every IAM call the code
 * under test makes through it is judged against the policy `profile-irsa-webhook iam-policy`
 * prints for the caller's configuration; when the file ends, any call that policy would deny on
 * AWS fails the file, listed one per line. Calls signed with ADMIN_CREDENTIALS (iamClientFor)
 * are the test's own and are not judged; calls with FAKE_CREDENTIALS are judged against the
 * default test configuration (that of startTestWebhook() without overrides).
 *
 * The recorder runs in this process: a child process that calls it must be spawned
 * asynchronously (spawnSync would block the recorder and the child would hang).
 */
export async function startMoto(options: StartMotoOptions = {}): Promise<TestMoto> {
  const direct = await startMotoServer(options);
  let recorder: IamRecorder;
  try {
    recorder = await startIamRecorder({
      target: direct.endpoint,
      admin: new IAMClient({
        region: MOTO_REGION,
        endpoint: direct.endpoint,
        credentials: ADMIN_CREDENTIALS,
      }),
      defaultSettings: defaultTestSettings(),
    });
  } catch (error) {
    await direct.stop();
    throw error;
  }
  t.teardown(async () => {
    const failures = await recorder.failures();
    if (failures.length > 0) {
      throw new Error(
        `${failures.length} IAM call(s) made against moto would be refused by the webhook's ` +
          `own IAM policy:\n${failures.map((line) => `  - ${line}`).join('\n')}`,
      );
    }
  });
  let stopping: Promise<void> | undefined;
  return {
    endpoint: recorder.endpoint,
    port: recorder.port,
    pid: direct.pid,
    direct,
    recorder,
    reset: () => direct.reset(),
    stop() {
      stopping ??= (async () => {
        await recorder.close();
        await direct.stop();
      })();
      return stopping;
    },
  };
}

/** The configuration of startTestWebhook() without overrides, against moto's account. */
function defaultTestSettings(): IamPolicySettings {
  const result = loadConfig({}, { ...REQUIRED_ENV, OIDC_ISSUER: ISSUER });
  if (!result.ok) throw new Error(`default test configuration: ${result.problems.join('; ')}`);
  return judgedSettingsFor(result.config);
}

/** What a webhook with this configuration is judged against, on moto's account by default. */
export function judgedSettingsFor(config: Config, accountId = MOTO_ACCOUNT_ID): IamPolicySettings {
  const role = roleSettings(config, config.accountId ?? accountId, config.oidcIssuer ?? ISSUER);
  return { ...role, mode: config.mode };
}

/** An SDK client that talks to moto directly, to read back and arrange what IAM holds. */
export function iamClientFor(endpoint: string): IAMClient {
  return new IAMClient({ region: MOTO_REGION, endpoint, credentials: ADMIN_CREDENTIALS });
}
