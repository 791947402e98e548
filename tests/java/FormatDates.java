// The independent formatter of tests/unit/test_date_properties.py: java.time itself.
// Reads lines "<pattern>\t<epoch second>\t<nano of second>\t<zone id>" and writes, for each,
// the moment formatted with DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH), or "!<error>".
// Run as a single source file: java tests/java/FormatDates.java (Java 11 or later).

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

public class FormatDates {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            String[] fields = line.split("\t", -1);
            try {
                Instant instant = Instant.ofEpochSecond(Long.parseLong(fields[1]), Long.parseLong(fields[2]));
                DateTimeFormatter formatter = DateTimeFormatter.ofPattern(fields[0], Locale.ENGLISH);
                out.println(formatter.format(instant.atZone(ZoneId.of(fields[3]))));
            } catch (RuntimeException ex) {
                out.println("!" + ex.getMessage());
            }
        }
    }
}
