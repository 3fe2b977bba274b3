# Recomputes the golden bytes of wire_codec_test.cpp independently of the C++
# code (Python struct + cryptography AESGCM). Run: python3 tests/unit/wire_golden.py
import struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def ip(src,dst,proto,plen,ident,ttl=64):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+plen,ident,0x4000,ttl,proto,0,bytes(src),bytes(dst))
    return h[:10]+struct.pack('!H',csum(h))+h[12:]
def udp(src,dst,sp,dp,payload):
    l=8+len(payload)
    ph=bytes(src)+bytes(dst)+struct.pack('!BBH',0,17,l)
    u=struct.pack('!HHHH',sp,dp,l,0)+payload
    c=csum(ph+u) or 0xffff
    return u[:6]+struct.pack('!H',c)+u[8:]
def stamp(flow,seq,tx,src,dst,sp,dp,size):
    h=b'SLNW'+bytes([1,0])+struct.pack('!H',size)+struct.pack('!I',flow)+b'\0'*4+struct.pack('!QQ',seq,tx)+bytes(src)+bytes(dst)+struct.pack('!HH',sp,dp)
    return h+bytes(((flow*131+seq*7+i)&0xff) for i in range(44,size))
src=[10,1,0,1]; dst=[10,2,0,1]
pl=stamp(3,5,0x1122334455667788,src,dst,40003,5001,60)
u=udp(src,dst,40003,5001,pl)
inner=ip(src,dst,17,len(u),7)+u
print("datagram", pl.hex())
print("inner", inner.hex())
key=bytes(range(16)); salt=bytes([0x10,0x11,0x12,0x13])
spi=3; seq=1; iv=struct.pack('!Q',0x0102030405060708)
pad=(4-(len(inner)+2)%4)%4
clear=inner+bytes(range(1,pad+1))+bytes([pad,4])
esphdr=struct.pack('!II',spi,seq)
ct=AESGCM(key).encrypt(salt+iv,clear,esphdr)
esp=esphdr+iv+ct
outer=ip([192,168,0,1],[192,168,0,2],50,len(esp),9)+esp
print("esp", outer.hex())
# ESN (RFC 4303 2.2.1, RFC 4106 section 5): 64-bit sequence number 2^32 + 5 of
# which only the low half is sent; AAD = SPI || seq_hi || seq_lo. SPI 0x00013000
# is sealnet's node 1, key 3, slot 0, generation 0 (docs/xfrm-design.md "SPIs").
spi=0x00013000; seq=(1<<32)|5
esphdr=struct.pack('!II',spi,seq&0xffffffff)
ct=AESGCM(key).encrypt(salt+iv,clear,struct.pack('!III',spi,seq>>32,seq&0xffffffff))
esp=esphdr+iv+ct
outer=ip([192,168,0,1],[192,168,0,2],50,len(esp),9)+esp
print("esp_esn", outer.hex())
