#!/usr/bin/env python3
"""Issue 12's memory attacks against a spoor binary, printing its RSS (BENCHMARKS.md,
"Memory under attack"). Usage: memory-attacks.py BIN BUDGET_BYTES|default held|bomb|tiny|trace|search|flood
flood: 32 keep-alive senders post valid 1,000-span OTLP requests (10 attributes per span) as fast
as they are answered for FLOOD_SECONDS (default 40); RSS is sampled every 100 ms.
Starts BIN on loopback ports 27001-27011 with a temporary data directory."""
import socket, subprocess, sys, time, os, gzip, threading, urllib.request, urllib.error, shutil, tempfile
BIN=sys.argv[1]; BUDGET=sys.argv[2]; ATTACK=sys.argv[3]
base=27000
DATA=tempfile.mkdtemp(prefix='spoor-attack-')
args=[BIN,'--otlp-grpc-addr',f'127.0.0.1:{base+1}','--otlp-http-addr',f'127.0.0.1:{base+2}','--query-http-addr',f'127.0.0.1:{base+3}','--admin-http-addr',f'127.0.0.1:{base+4}','--jaeger-compact-addr',f'127.0.0.1:{base+5}','--jaeger-binary-addr',f'127.0.0.1:{base+6}','--jaeger-http-addr',f'127.0.0.1:{base+7}','--jaeger-grpc-addr',f'127.0.0.1:{base+8}','--zipkin-addr',f'127.0.0.1:{base+9}','--sampling-http-addr',f'127.0.0.1:{base+10}','--sampling-grpc-addr',f'127.0.0.1:{base+11}','--query-grpc-addr','off','--data-dir',DATA,'--log','error']
if BUDGET!='default': args+=['--max-bytes-in-flight',BUDGET]
p=subprocess.Popen(args, stderr=subprocess.DEVNULL)
def rss():
    t=open(f'/proc/{p.pid}/status').read()
    f=lambda n:int([l for l in t.splitlines() if l.startswith(n)][0].split()[1])//1024
    return f('VmRSS:'), f('VmHWM:')
for _ in range(100):
    try:
        urllib.request.urlopen(f'http://127.0.0.1:{base+4}/status',timeout=1); break
    except Exception: time.sleep(0.1)
before=rss()[0]
url=f'http://127.0.0.1:{base+2}/v1/traces'
codes=[]
# Protobuf by hand: varint, length-delimited field, fixed64, KeyValue with a string value.
def vint(n):
    o=b''
    while True:
        b=n&0x7f; n>>=7
        if n: o+=bytes([b|0x80])
        else: return o+bytes([b])
def fld(num, payload): return vint(num<<3|2)+vint(len(payload))+payload
def fx(num, v): return vint(num<<3|1)+v.to_bytes(8,'little')
def kv(k, v): return fld(1, k)+fld(2, fld(1, v))
def post(body, enc=None):
    h={'Content-Type':'application/x-protobuf'}
    if enc: h['Content-Encoding']=enc
    try:
        r=urllib.request.urlopen(urllib.request.Request(url,data=body,headers=h),timeout=120); codes.append(r.status)
    except urllib.error.HTTPError as e: codes.append(e.code)
    except Exception as e: codes.append(str(e)[:30])
if ATTACK=='held':
    conns=[]
    def one():
        s=socket.create_connection(('127.0.0.1',base+2))
        L=8000000
        s.sendall(f'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {L}\r\n\r\n'.encode())
        s.settimeout(0.3)
        try:
            d=s.recv(100)
            if d: codes.append(int(d.split()[1])); conns.append(s); return
        except socket.timeout: pass
        s.settimeout(None)
        try: s.sendall(b'\0'*(L-1)); codes.append('held')
        except Exception as e: codes.append('err')
        conns.append(s)
    ts=[threading.Thread(target=one) for _ in range(40)]
    [t.start() for t in ts]; [t.join() for t in ts]
    time.sleep(1)
elif ATTACK=='bomb':
    b=gzip.compress(b'\0'*60000000,1)
    ts=[threading.Thread(target=post,args=(b,'gzip')) for _ in range(24)]
    [t.start() for t in ts]; [t.join() for t in ts]
elif ATTACK=='tiny':
    spans=b''.join(fld(2, fld(1,(i//64+1).to_bytes(16,'big'))+fld(2,(i+1).to_bytes(8,'big'))) for i in range(500000))
    body=fld(1, fld(2, spans))
    post(body)
if ATTACK=='trace':
    res=fld(1, fld(1, fld(1,b'service.name')+fld(2, fld(1,b'big'))))
    t0=1700000000000000000
    for part in range(10):
        spans=b''.join(fld(2, fld(1,(7).to_bytes(16,'big'))+fld(2,(part*5000+i+1).to_bytes(8,'big'))+fld(5,b'op-%d'%i)+fx(7,t0+i*1000)+fx(8,t0+i*1000+5000000)) for i in range(5000))
        post(fld(1, res+fld(2, spans)))
    before=rss()[0]
    q=f'http://127.0.0.1:{base+3}'
    def get(u):
        try:
            r=urllib.request.urlopen(u,timeout=300); codes.append((r.status,len(r.read())))
        except urllib.error.HTTPError as e: codes.append(e.code)
    tid='00000000000000000000000000000007'
    ts=[threading.Thread(target=get,args=(q+(f'/api/v3/traces/{tid}' if i%2==0 else f'/api/traces/{tid}'),)) for i in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
if ATTACK=='search':
    q=f'http://127.0.0.1:{base+3}'
    def get(u):
        try:
            r=urllib.request.urlopen(u,timeout=300); codes.append((r.status,len(r.read())))
        except urllib.error.HTTPError as e: codes.append(e.code)
    ts=[threading.Thread(target=get,args=(q+'/api/traces?service=big&limit=100000',)) for i in range(3)]
    [t.start() for t in ts]; [t.join() for t in ts]
if ATTACK=='flood':
    import http.client
    res=fld(1, fld(1, kv(b'service.name', b'flood'))+fld(1, kv(b'host.name', b'flood-host-1')))
    def body(seq):
        t0=time.time_ns()
        spans=b''.join(fld(2, fld(1,(seq*1000+i//10+1).to_bytes(16,'big'))+fld(2,(i+1).to_bytes(8,'big'))
            +fld(5,b'GET /api/v1/orders/%d' % (i%20))+fx(7,t0+i*1000)+fx(8,t0+i*1000+2500000)
            +b''.join(fld(9, kv(b'attr.key.%d' % a, b'value-%d-%d' % (a, i%50))) for a in range(10))) for i in range(1000))
        return fld(1, res+fld(2, spans))
    bodies=[body(s) for s in range(8)]
    secs=float(os.environ.get('FLOOD_SECONDS','40'))
    stop=time.time()+secs; peak_sample=[0]
    def sender(k):
        c=http.client.HTTPConnection('127.0.0.1', base+2, timeout=60); n=0
        while time.time()<stop:
            try:
                c.request('POST','/v1/traces',body=bodies[(k+n)%8],headers={'Content-Type':'application/x-protobuf'})
                r=c.getresponse(); r.read(); codes.append(r.status)
                if r.status!=200: time.sleep(float(r.getheader('Retry-After') or '0.1'))
            except Exception as e:
                codes.append(type(e).__name__); c.close(); c=http.client.HTTPConnection('127.0.0.1', base+2, timeout=60)
            n+=1
    ts=[threading.Thread(target=sender,args=(k,)) for k in range(32)]
    [t.start() for t in ts]
    while any(t.is_alive() for t in ts):
        peak_sample[0]=max(peak_sample[0], rss()[0]); time.sleep(0.1)
    print(f'flood: {len(bodies[0])} B per request, {sum(1 for c in codes if c==200)*1000} spans acknowledged in {secs:.0f} s')
now,peak=rss()
from collections import Counter
print(f'{ATTACK}: budget {BUDGET}: RSS before {before} MiB, after {now} MiB, peak {peak} MiB; answers {dict(Counter(codes))}')
p.kill()
p.wait()
shutil.rmtree(DATA, ignore_errors=True)
