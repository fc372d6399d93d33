// The hooks a test injects into a replica: built from their spec in the replica's thread, off unless asked for.
// Checks that production's hooks (no spec) refuse the disk-fault message and give the storage no faults, that
// the disk-fault hook queues one failing write per message, and that only well-formed hook messages pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTestHookMessage, noTestHooks, replicaTestHooks } from '../../src/raft/test-hooks.js';

test('without a spec no hook is on: the disk-fault message is answered false and the storage gets no faults', () => {
  for (const hooks of [replicaTestHooks(undefined), replicaTestHooks({}), replicaTestHooks({ diskFaults: false })]) {
    assert.is(hooks, noTestHooks);
    assert.is(hooks.storageFaults, null);
    assert.is(hooks.receive({ type: 'injectDiskFault', code: 'EIO' }), false);
  }
});

test('the disk-fault hook fails the next writes, one per message, with the codes asked for', () => {
  const hooks = replicaTestHooks({ diskFaults: true });
  assert.ok(hooks.storageFaults !== null);
  assert.is(hooks.receive({ type: 'injectDiskFault', code: 'ENOSPC' }), true);
  assert.is(hooks.receive({ type: 'injectDiskFault', code: 'EIO' }), true);
  assert.is(hooks.storageFaults.takeFault(), 'ENOSPC');
  assert.is(hooks.storageFaults.takeFault(), 'EIO');
  assert.is(hooks.storageFaults.takeFault(), null);
});

test('only a well-formed hook message is one', () => {
  assert.ok(isTestHookMessage({ type: 'injectDiskFault', code: 'EIO' }));
  for (const message of [null, 'injectDiskFault', { type: 'injectDiskFault' }, { type: 'injectDiskFault', code: 'EPERM' }, { type: 'status' }]) {
    assert.not.ok(isTestHookMessage(message), JSON.stringify(message));
  }
});

test.run();
