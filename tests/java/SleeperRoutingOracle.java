// A reference for routing: finds each key's leaf partition with Java's own comparisons, the way
// Sleeper's PartitionTree.getLeafPartition does (descend from the root into the child whose
// region holds the key; a region holds a key when min <= key < max in every dimension, no max
// meaning +infinity). Strings compare with String.compareTo (UTF-16 code units); byte arrays as
// signed bytes, as Sleeper's ByteArray does.
//
// Input, one record per line, fields separated by tabs:
//   types   <type>...                       INT, LONG, STRING or BYTES, one per row key
//   part    <id> <parent|-> <min> <max|*>... one min and max per row key
//   key     <value>...
// Strings and byte arrays are written as hex of their (UTF-8) bytes. Output: the leaf id of
// each key, one per line, in order.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class SleeperRoutingOracle {
    static String[] types;

    static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return out;
    }

    static Object parse(String type, String v) {
        switch (type) {
            case "INT": return Integer.valueOf(v);
            case "LONG": return Long.valueOf(v);
            case "STRING": return new String(hex(v.equals("-") ? "" : v), StandardCharsets.UTF_8);
            default: return hex(v.equals("-") ? "" : v);
        }
    }

    static int compareBytes(byte[] a, byte[] b) {
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (a[i] != b[i]) return Byte.compare(a[i], b[i]);
        }
        return Integer.compare(a.length, b.length);
    }

    @SuppressWarnings("unchecked")
    static int compare(Object a, Object b) {
        if (a instanceof byte[]) return compareBytes((byte[]) a, (byte[]) b);
        return ((Comparable<Object>) a).compareTo(b);
    }

    static class Partition {
        String id;
        Object[] min, max;
        List<Partition> children = new ArrayList<>();

        boolean contains(Object[] key) {
            for (int d = 0; d < key.length; d++) {
                if (compare(min[d], key[d]) > 0) return false;
                if (max[d] != null && compare(key[d], max[d]) >= 0) return false;
            }
            return true;
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, Partition> byId = new LinkedHashMap<>();
        Map<String, String> parents = new HashMap<>();
        Partition root = null;
        StringBuilder out = new StringBuilder();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String[] f = line.split("\t", -1);
            switch (f[0]) {
                case "types":
                    types = Arrays.copyOfRange(f, 1, f.length);
                    break;
                case "part": {
                    Partition p = new Partition();
                    p.id = f[1];
                    p.min = new Object[types.length];
                    p.max = new Object[types.length];
                    for (int d = 0; d < types.length; d++) {
                        p.min[d] = parse(types[d], f[3 + 2 * d]);
                        String max = f[4 + 2 * d];
                        p.max[d] = max.equals("*") ? null : parse(types[d], max);
                    }
                    byId.put(p.id, p);
                    if (f[2].equals("-")) root = p; else parents.put(p.id, f[2]);
                    break;
                }
                case "key": {
                    if (!parents.isEmpty()) {
                        for (Map.Entry<String, String> e : parents.entrySet()) byId.get(e.getValue()).children.add(byId.get(e.getKey()));
                        parents.clear();
                    }
                    Object[] key = new Object[types.length];
                    for (int d = 0; d < types.length; d++) key[d] = parse(types[d], f[1 + d]);
                    Partition p = root;
                    while (!p.children.isEmpty()) {
                        Partition next = null;
                        for (Partition c : p.children) if (c.contains(key)) { next = c; break; }
                        if (next == null) throw new IllegalStateException("no child holds key " + line);
                        p = next;
                    }
                    out.append(p.id).append('\n');
                    break;
                }
                default:
                    throw new IllegalArgumentException("bad line " + line);
            }
        }
        System.out.print(out);
    }
}
