import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DiscoveryError } from './errors.js';

/** The account the webhook's own credentials belong to, which is the account its roles live in. */
export async function discoverAccountId(region: string, signal?: AbortSignal): Promise<string> {
  const sts = new STSClient({ region });
  try {
    const identity = await sts.send(
      new GetCallerIdentityCommand({}),
      signal === undefined ? {} : { abortSignal: signal },
    );
    if (!identity.Account) throw new Error('GetCallerIdentity returned no account');
    return identity.Account;
  } catch (error) {
    throw new DiscoveryError(
      `cannot find the AWS account ID with STS GetCallerIdentity (${(error as Error).message}); set --account-id or AWS_ACCOUNT_ID`,
      { cause: error },
    );
  } finally {
    sts.destroy();
  }
}
