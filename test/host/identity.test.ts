import { describe, expect, it } from 'vitest';
import { parseStoredIdentity, replicaObjectName } from '../../src/host/identity.ts';

describe('replica identity', () => {
  it('names a replica of a configured stream by stream and id, and of a stream created at run time by its generation too', () => {
    expect(replicaObjectName('default', 2)).toBe('default/2');
    expect(replicaObjectName('orders', 2, 'a1b2')).toBe('orders~a1b2/2');
  });

  it('reads an identity stored before the stream generation had its name (stored as incarnation) as that generation', () => {
    expect(parseStoredIdentity('{"stream":"orders","replicaId":2,"incarnation":"a1b2"}')).toEqual({ stream: 'orders', replicaId: 2, generation: 'a1b2' });
    expect(parseStoredIdentity('{"stream":"orders","replicaId":2,"generation":"a1b2"}')).toEqual({ stream: 'orders', replicaId: 2, generation: 'a1b2' });
    expect(parseStoredIdentity('{"stream":"default","replicaId":1}')).toEqual({ stream: 'default', replicaId: 1 });
  });
});
