import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { FAKE_CREDENTIALS, MOTO_REGION } from '../../tools/dev/moto.js';

// One moto starter for tests, `npm run dev` and the benchmarks.
export {
  FAKE_CREDENTIALS,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto,
  type Moto,
} from '../../tools/dev/moto.js';

/** An SDK client that talks to moto directly, to read back and arrange what IAM holds. */
export function iamClientFor(endpoint: string): IAMClient {
  return new IAMClient({ region: MOTO_REGION, endpoint, credentials: FAKE_CREDENTIALS });
}

export function stsClientFor(endpoint: string): STSClient {
  return new STSClient({ region: MOTO_REGION, endpoint, credentials: FAKE_CREDENTIALS });
}
