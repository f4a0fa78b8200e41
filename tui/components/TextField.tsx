import { Box, Text } from "ink";

interface TextFieldProps {
	label: string;
	value: string;
	focused: boolean;
	/** Shows one `*` per character. */
	mask?: boolean;
}

export function TextField({ label, value, focused, mask }: TextFieldProps) {
	return (
		<Box>
			<Box width={10}>
				<Text bold={focused}>{label}</Text>
			</Box>
			<Text color={focused ? "cyan" : undefined}>
				{mask ? "*".repeat(value.length) : value}
				{focused ? "_" : ""}
			</Text>
		</Box>
	);
}
