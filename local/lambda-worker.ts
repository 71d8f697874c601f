/**
 * One local Lambda "sandbox": a worker thread with the function's own environment
 * (`new Worker(..., { env })`), which imports the function's module once (the cold start)
 * and then runs invocations sent by local/lambda-runner.ts. A thrown error is returned as
 * Lambda reports it (`errorType`, `errorMessage`); an error during the import is an init
 * error, and the next invocation tries the import again, as Lambda does.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

interface WorkerSpec {
  modulePath: string;
  exportName: string;
  functionName: string;
  functionArn: string;
  memoryMb: number;
  timeoutMs: number;
}

export interface InvokeMessage {
  type: 'invoke';
  id: number;
  requestId: string;
  event: unknown;
}

export type InvokeReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { errorType: string; errorMessage: string } };

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const spec = workerData as WorkerSpec;
let handler: Promise<Handler> | undefined;

function load(): Promise<Handler> {
  handler ??= import(pathToFileURL(spec.modulePath).href).then((module: Record<string, unknown>) => {
    const fn = module[spec.exportName];
    if (typeof fn !== 'function') throw new Error(`${spec.exportName} is not a function exported by the handler module`);
    return fn as Handler;
  });
  handler.catch(() => {
    handler = undefined;
  });
  return handler;
}

parentPort?.on('message', async (message: InvokeMessage) => {
  if (message.type !== 'invoke') return;
  const deadline = Date.now() + spec.timeoutMs;
  const context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: spec.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: spec.functionArn,
    memoryLimitInMB: String(spec.memoryMb),
    awsRequestId: message.requestId,
    logGroupName: `/aws/lambda/${spec.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let reply: InvokeReply;
  try {
    const fn = await load();
    reply = { id: message.id, ok: true, result: await fn(message.event, context) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    reply = { id: message.id, ok: false, error: { errorType: e.name || 'Error', errorMessage: e.message } };
  }
  try {
    parentPort?.postMessage(reply);
  } catch {
    // The result could not be cloned (a function returning something odd): report that instead.
    parentPort?.postMessage({
      id: message.id,
      ok: false,
      error: { errorType: 'Runtime.ResponseNotSerializable', errorMessage: 'the handler returned a value that cannot be serialized' },
    } satisfies InvokeReply);
  }
});
